/**
 * The `[WebSocket]` section. WebSocket is served by the HTTP (and HTTPS) server on its port, so
 * this section is registered with HTTP's (protocols/http/registration.ts).
 */
import type { ConfigSection } from '../../config/section';

/** `timeout`: seconds without a message before a WebSocket is closed (0 = never; pings go out before) */
export interface WebSocketSettings {
  timeout: number;
}

declare module '../../config/types' {
  interface Config {
    websocket: WebSocketSettings;
  }
}

export const WEBSOCKET_SECTION: ConfigSection<'websocket'> = {
  name: 'websocket',
  defaults: () => ({ timeout: 120 }),
  keys: [{ key: 'timeout', kind: 'seconds', set: (s, v) => (s.timeout = v as number) }],
};
