/** Shared by the process tests: free ports, temp app folders, a child server with line capture. */
import * as net from 'node:net';
import { startCli } from '../helpers/cli';
import { tempDir as makeTempDir } from '../helpers/temp';

export { CLI, freePort, freePorts, freeTcpPort, startCli, writeIni, type Ports, type RunningChild } from '../helpers/cli';

/** A temp application folder, removed once the test file has run (helpers/temp). */
export function tempDir(prefix = 'monats-process-'): string {
  return makeTempDir(prefix);
}

/** Runs the CLI to completion (for --help, --version, bad options). */
export async function runCli(args: string[], cwd: string): Promise<{ code: number | string; output: string }> {
  const c = startCli(args, cwd);
  const timer = setTimeout(() => c.kill(), 20_000);
  const code = await c.exited;
  clearTimeout(timer);
  return { code, output: c.output() };
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitUntil(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Connects to 127.0.0.1:port; resolves true when accepted, false when refused. */
export function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
