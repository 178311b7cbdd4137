import path from 'node:path';
import { Menu, Tray, nativeImage, type MenuItemConstructorOptions } from 'electron';
import { trayIconFor, trayMenuModel, trayTooltip, type TrayAction, type TrayItem, type TrayState } from './tray-model.js';

/** Turns the tray model into Electron's menu template; clicks go to onAction. */
export function toMenuTemplate(items: readonly TrayItem[], onAction: (action: TrayAction) => void): MenuItemConstructorOptions[] {
  return items.map((item): MenuItemConstructorOptions => {
    switch (item.kind) {
      case 'separator':
        return { type: 'separator' };
      case 'label':
        return { label: item.label, enabled: false };
      case 'action':
        return { label: item.label, enabled: item.enabled, click: () => onAction(item.action) };
      case 'checkbox':
        return { type: 'checkbox', label: item.label, checked: item.checked, enabled: item.enabled, click: () => onAction(item.action) };
    }
  });
}

/** The tray icon and menu; update() redraws both from state. */
export class AppTray {
  private readonly tray: Tray;
  private lastIcon: string | null = null;

  constructor(
    private readonly iconDir: string,
    private readonly onAction: (action: TrayAction) => void,
  ) {
    this.tray = new Tray(this.image('stopped'));
    this.lastIcon = 'stopped';
    // Windows and macOS report a click on the icon; Linux AppIndicator trays only open the menu.
    this.tray.on('click', () => onAction({ type: 'open' }));
  }

  update(state: TrayState): void {
    const icon = trayIconFor(state.statuses);
    if (icon !== this.lastIcon) {
      this.tray.setImage(this.image(icon));
      this.lastIcon = icon;
    }
    this.tray.setToolTip(trayTooltip(state.statuses));
    this.tray.setContextMenu(Menu.buildFromTemplate(toMenuTemplate(trayMenuModel(state), this.onAction)));
  }

  destroy(): void {
    this.tray.destroy();
  }

  private image(icon: string) {
    // createFromPath picks tray-<state>@2x.png by itself on high-DPI screens.
    return nativeImage.createFromPath(path.join(this.iconDir, `tray-${icon}.png`));
  }
}
