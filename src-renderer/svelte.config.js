// Svelte 5 strips TypeScript types itself: no preprocessor needed.
export default {};
