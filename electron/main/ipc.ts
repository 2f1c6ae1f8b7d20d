import { ipcMain, type BrowserWindow, type IpcMainInvokeEvent } from 'electron';
import { pathToFileURL } from 'node:url';
import { ipcChannels, type StreamMessage } from '../../shared/transport';
import { BerthError } from '../../shared/errors';
import type { Dispatcher } from './rpc/dispatcher';
import { createRpcHost } from './rpc/sessions';
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
  const host = createRpcHost(dispatcher);
  const send = (message: StreamMessage) => {
    if (!window.webContents.isDestroyed()) window.webContents.send(ipcChannels.event, message);
  };
  let session = host.openSession(send);

  ipcMain.handle(ipcChannels.call, (event, name: unknown, input: unknown) => {
    assertTrustedSender(event, window);
    return host.call(undefined, name, input);
  });

  ipcMain.handle(ipcChannels.subscribe, (event, id: unknown, name: unknown, input: unknown) => {
    assertTrustedSender(event, window);
    if (typeof id !== 'string') throw new BerthError('ValidationError', 'Bad subscription id');
    session.subscribe(id, name, input);
  });

  ipcMain.handle(ipcChannels.unsubscribe, (event, id: unknown) => {
    assertTrustedSender(event, window);
    if (typeof id !== 'string') return;
    return session.unsubscribe(id);
  });

  // A reload or crash of the page must not leave feeds running for nobody, nor undo a deploy it started: the page's
  // subscriptions stop, its operations run to their end (rpc/sessions.ts).
  const newPage = () => {
    session.close();
    session = host.openSession(send);
  };
  window.webContents.on('did-start-navigation', newPage);
  window.webContents.on('render-process-gone', newPage);
  // Closing the window quits the app: what it started stops now rather than halfway through the shutdown.
  window.on('closed', () => session.close({ cancelOperations: true }));
}
