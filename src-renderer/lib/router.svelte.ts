/**
 * Hash routes (#/status, #/profiles/app, ...): they work the same from file://
 * in Electron and over HTTP in the web bridge, with no server-side routing.
 */
export type Route =
  | { page: 'status' }
  | { page: 'profile'; id: string | null }
  | { page: 'setup'; id: string | null }
  | { page: 'history' }
  | { page: 'access'; id: string | null }
  | { page: 'clients'; id: string | null }
  | { page: 'connect' };

export function parseRoute(hash: string): Route {
  const [page, rawId] = hash.replace(/^#\/?/, '').split('/');
  const id = rawId ? decodeURIComponent(rawId) : null;
  switch (page) {
    case 'profiles':
      return { page: 'profile', id: id === 'new' ? null : id };
    case 'setup':
      return { page: 'setup', id };
    case 'history':
      return { page: 'history' };
    case 'access':
      return { page: 'access', id };
    case 'clients':
      return { page: 'clients', id };
    case 'connect':
      return { page: 'connect' };
    default:
      return { page: 'status' };
  }
}

export function href(page: Route['page'], id?: string | null): string {
  const seg = page === 'profile' ? 'profiles' : page;
  if (page === 'profile') return `#/profiles/${id ? encodeURIComponent(id) : 'new'}`;
  return id ? `#/${seg}/${encodeURIComponent(id)}` : `#/${seg}`;
}

class Router {
  route = $state<Route>(parseRoute(location.hash));

  constructor() {
    window.addEventListener('hashchange', () => {
      this.route = parseRoute(location.hash);
    });
  }

  go(to: string): void {
    location.hash = to;
  }
}

export const router = new Router();
