import { ipcMain, type BrowserWindow, type IpcMainInvokeEvent } from 'electron';
import { pathToFileURL } from 'node:url';
import { ipcChannels, type StreamMessage } from '../../shared/transport';
import { BerthError } from '../../shared/errors';
import type { Dispatcher } from './rpc/dispatcher';
import { rendererFile, rendererUrl } from './window';

/** Only our own window, showing our own page, may talk to the services. */
function assertTrustedSender(event: IpcMainInvokeEvent, window: BrowserWindow): void {
  const frameUrl = event.senderFrame?.url ?? '';
  const expected = rendererUrl ?? pathToFileURL(rendererFile).href;
  if (event.sender !== window.webContents || !frameUrl.startsWith(expected)) {
    throw new BerthError('Unauthorized', `IPC from an untrusted frame (${frameUrl}) was refused`);
  }
}

export function registerIpc(dispatcher: Dispatcher, window: BrowserWindow): void {
  const subscriptions = new Map<string, () => void>();
  const send = (message: StreamMessage) => {
    if (!window.webContents.isDestroyed()) window.webContents.send(ipcChannels.event, message);
  };

  ipcMain.handle(ipcChannels.call, (event, name: unknown, input: unknown) => {
    assertTrustedSender(event, window);
    return dispatcher.call(name, input);
  });

  ipcMain.handle(ipcChannels.subscribe, (event, id: unknown, name: unknown, input: unknown) => {
    assertTrustedSender(event, window);
    if (typeof id !== 'string' || subscriptions.has(id)) throw new BerthError('ValidationError', 'Bad subscription id');
    const cancel = dispatcher.subscribe(
      name,
      input,
      (payload) => send({ id, type: 'event', event: payload }),
      (error) => {
        subscriptions.delete(id);
        send({ id, type: 'end', ...(error ? { error: error.toJSON() } : {}) });
      },
    );
    subscriptions.set(id, cancel);
  });

  ipcMain.handle(ipcChannels.unsubscribe, (event, id: unknown) => {
    assertTrustedSender(event, window);
    if (typeof id !== 'string') return;
    subscriptions.get(id)?.();
    subscriptions.delete(id);
  });

  // A reload or crash of the page must not leave producers running for nobody.
  const cancelAll = () => {
    for (const cancel of subscriptions.values()) cancel();
    subscriptions.clear();
  };
  window.webContents.on('did-start-navigation', cancelAll);
  window.webContents.on('render-process-gone', cancelAll);
  window.on('closed', cancelAll);
}
