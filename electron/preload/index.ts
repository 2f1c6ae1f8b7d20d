/** Exposes exactly the contract's transport (call, subscribe) and the dropped-file path lookup; nothing else. */
import { contextBridge, ipcRenderer, webUtils } from 'electron';
import { ipcChannels, type BerthBridge, type StreamMessage } from '../../shared/transport';

const listeners = new Map<string, (message: StreamMessage) => void>();

ipcRenderer.on(ipcChannels.event, (_event, message: StreamMessage) => {
  listeners.get(message.id)?.(message);
  if (message.type === 'end') listeners.delete(message.id);
});

const bridge: BerthBridge = {
  call: (name, input) => ipcRenderer.invoke(ipcChannels.call, name, input),
  subscribe(name, input, onMessage) {
    const id = crypto.randomUUID();
    listeners.set(id, onMessage);
    ipcRenderer.invoke(ipcChannels.subscribe, id, name, input).catch((err: Error) => {
      listeners.delete(id);
      onMessage({ id, type: 'end', error: { kind: 'Internal', message: err.message } });
    });
    return () => {
      listeners.delete(id);
      void ipcRenderer.invoke(ipcChannels.unsubscribe, id);
    };
  },
  pathForFile: (file) => webUtils.getPathForFile(file),
};

contextBridge.exposeInMainWorld('berth', bridge);
