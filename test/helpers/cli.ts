/**
 * The server executable as a child process, free ports and an ini for it: what the process tests,
 * the attack campaign and its benchmark share. Nothing here imports node:test, so a benchmark can
 * use it without turning into a test file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Ports } from './ports';

export const CLI = path.join(__dirname, '..', '..', 'src', 'cli.js');

export { freePort, freePorts, freeTcpPort, type Ports } from './ports';

/** A MonaServer.ini pointing application dir and logs into `dir`, ports as given, plus `extra` lines. */
export function writeIni(dir: string, ports: Ports, extra = ''): string {
  const file = path.join(dir, 'MonaServer.ini');
  fs.writeFileSync(
    file,
    [
      '; written by the process tests',
      '[application]',
      `dir=${dir}`,
      '[RTMFP]',
      `port=${ports.rtmfp}`,
      '[RTMP]',
      `port=${ports.rtmp}`,
      '[HTTP]',
      `port=${ports.http}`,
      '[RTSP]',
      `port=${ports.rtsp}`,
      '[admin]',
      `port=${ports.admin}`,
      '[logs]',
      'directory=logs',
      extra,
    ].join('\n'),
  );
  return file;
}

export interface RunningChild {
  child: ChildProcess;
  /** stdout+stderr so far, colour codes removed */
  output(): string;
  /** resolves with the output once `pattern` matches it; rejects on timeout or exit */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** resolves with the exit code (or signal name) */
  exited: Promise<number | string>;
  /** kills by pid if still running (test cleanup) */
  kill(): void;
}

/** What else a child server may be started with. */
export interface ChildOptions {
  /** node's own flags, before the CLI (`--inspect=127.0.0.1:0`); not with `executable` */
  nodeArgs?: string[];
  /** environment variables added to this process's */
  env?: Record<string, string>;
}

/**
 * Runs the CLI of this build, or `executable` (an installed `monats`) when given. `shell`: a shell
 * line run before the server replaces the shell (`ulimit -n 256`); same pid.
 */
export function startCli(args: string[], cwd: string, executable?: string, shell?: string, more: ChildOptions = {}): RunningChild {
  const [command, argv] = executable ? [executable, args] : [process.execPath, [...(more.nodeArgs ?? []), CLI, ...args]];
  const env = { ...process.env, NO_COLOR: '1', ...more.env };
  const opts = { cwd, stdio: ['ignore', 'pipe', 'pipe'] as Array<'ignore' | 'pipe'>, env };
  const child = shell ? spawn('sh', ['-c', `${shell}; exec "$0" "$@"`, command, ...argv], opts) : spawn(command, argv, opts);
  let text = '';
  const waiters: Array<() => void> = [];
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    for (const w of waiters.slice()) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  let done = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      for (const w of waiters.slice()) w();
      resolve(code ?? signal ?? -1);
    });
  });
  return {
    child,
    output: () => text,
    exited,
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(text)) {
            cleanup();
            resolve(text);
          } else if (done) {
            cleanup();
            reject(new Error(`process exited before ${pattern} appeared; output:\n${text}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timeout waiting for ${pattern}; output:\n${text}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          const i = waiters.indexOf(check);
          if (i >= 0) waiters.splice(i, 1);
        };
        waiters.push(check);
        check();
      });
    },
    kill() {
      if (!done && child.pid) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
  };
}
