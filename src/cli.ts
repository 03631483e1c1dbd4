#!/usr/bin/env node
/**
 * The executable (package.json `bin`). Exit codes: 0 normal stop (SIGINT/SIGTERM) or --help/
 * --version, 1 could not start (including: no protocol could listen), 2 bad command line, 70
 * crashed (uncaught error, logged as FATAL).
 *
 * --daemon: Node cannot fork, so the process re-spawns itself detached (same arguments minus
 * --daemon, stdio to /dev/null, an IPC channel only until start-up is done), waits for the child
 * to report that it started and exits 0 (or 1 with the child's error). Unlike MonaServer the daemon
 * keeps the working directory (MonaServer chdirs to /), so relative --config and application paths
 * mean the same with and without --daemon.
 *
 * --pidfile is written by the server process itself once it started (listening), never before:
 * a second server that cannot start leaves the running one's pid file alone. It is removed at exit
 * only if it still holds our pid.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs, usage, UsageError, type CliOptions } from './cli/options';
import { PROTOCOLS, PRODUCT, Server, StartupError, version } from './server';
import { primaryProtocols, threadCount } from './threads';
import { isWorkerProcess, runWorker } from './threads/worker';

const DAEMON_CHILD_ENV = 'MONATS_DAEMON_CHILD';

type ChildReport = { started: true; pid: number } | { started: false; error: string };

function main(argv: string[]): void {
  let options: CliOptions;
  try {
    options = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${PRODUCT}: ${err.message}\n\n${usage(PRODUCT)}`);
    process.exit(2);
  }
  if (options.help) {
    process.stdout.write(usage(PRODUCT));
    return;
  }
  if (options.version) {
    process.stdout.write(`${PRODUCT} ${version()}\n`);
    return;
  }
  // a worker of `threads`: started by the primary with the same command line
  if (isWorkerProcess()) {
    runWorker({ configPath: options.configPath, logLevel: options.logLevel, logFormat: options.logFormat, dump: options.dump, dumpLimit: options.dumpLimit });
    return;
  }
  if (options.daemon && process.env[DAEMON_CHILD_ENV] !== '1') return daemonize(argv, options);
  run(options);
}

/** Parent side of --daemon: spawn the detached child, wait for its start report, write the pidfile. */
function daemonize(argv: string[], options: CliOptions): void {
  const args = argv.filter((a) => !/^(--daemon|-d)$/i.test(a));
  const child = spawn(process.execPath, [...process.execArgv, __filename, ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { ...process.env, [DAEMON_CHILD_ENV]: '1' },
  });
  const fail = (message: string) => {
    process.stderr.write(`${PRODUCT}: daemon did not start: ${message}\n`);
    process.exit(1);
  };
  const timer = setTimeout(() => fail('no start report within 60 s'), 60_000);
  child.once('error', (err) => fail(err.message));
  child.once('exit', (code, signal) => fail(`it exited (${signal ?? `code ${code}`}) during start-up, see the log file`));
  child.once('message', (report: ChildReport) => {
    clearTimeout(timer);
    if (!report.started) return fail(report.error);
    process.stdout.write(`${PRODUCT} running as daemon, pid ${report.pid}\n`);
    child.removeAllListeners('exit');
    child.disconnect();
    child.unref();
  });
}

function run(options: CliOptions): void {
  const isDaemonChild = process.env[DAEMON_CHILD_ENV] === '1';
  const report = (r: ChildReport) => {
    if (isDaemonChild && process.send) process.send(r);
  };
  let server: Server;
  try {
    server = new Server({
      configPath: options.configPath,
      logLevel: options.logLevel,
      logFormat: options.logFormat,
      dump: options.dump,
      dumpLimit: options.dumpLimit,
      arguments: options.arguments,
      console: isDaemonChild ? null : process.stdout,
      // threads > 1: this process runs the scripts, the workers the protocols
      protocols: (config) => {
        const n = threadCount(config);
        return n > 1 ? primaryProtocols(n) : PROTOCOLS;
      },
    });
  } catch (err) {
    const message = err instanceof StartupError ? err.message : (err as Error).stack ?? String(err);
    process.stderr.write(`${PRODUCT}: ${message}\n`);
    report({ started: false, error: message });
    process.exitCode = 1;
    return;
  }
  const pidFile = options.pidFile ? path.resolve(options.pidFile) : undefined;
  let pidWritten = false;
  const writePidFile = () => {
    if (!pidFile) return;
    try {
      fs.writeFileSync(pidFile, `${process.pid}\n`);
      pidWritten = true;
    } catch (err) {
      server.logger.error('Server', `cannot write pid file ${pidFile}: ${(err as Error).message}`);
    }
  };
  const removePidFile = () => {
    if (!pidFile || !pidWritten) return;
    pidWritten = false;
    try {
      // someone else's pid there now (a newer server took over the file): theirs to keep
      if (fs.readFileSync(pidFile, 'utf8').trim() === String(process.pid)) fs.rmSync(pidFile, { force: true });
    } catch {
      // already gone
    }
  };

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      server.logger.warn('Server', `${signal} again: exiting without waiting`);
      server.logger.flushSync();
      removePidFile();
      process.exit(1);
    }
    stopping = true;
    server.logger.note('Server', `${signal} received, stopping`);
    server.stop().then(
      () => {
        removePidFile();
        process.exit(0);
      },
      (err: unknown) => {
        server.logger.fatal('Server', `stop failed: ${(err as Error).stack ?? err}`);
        server.logger.flushSync();
        removePidFile();
        process.exit(1);
      },
    );
  };
  // someone calling process.exit() directly: still get the queued lines into the file
  process.on('exit', () => server.logger.flushSync());
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGHUP', () => (isDaemonChild ? undefined : shutdown('SIGHUP')));
  process.on('uncaughtException', (err) => {
    // a bug somewhere: leave a trace in the log file before dying, state may be inconsistent
    server.logger.fatal('Server', `uncaught exception: ${err.stack ?? err}`);
    server.logger.flushSync();
    removePidFile();
    process.exit(70);
  });

  server.start().then(
    () => {
      writePidFile();
      report({ started: true, pid: process.pid });
      if (isDaemonChild && process.connected) process.disconnect();
    },
    (err: unknown) => {
      // a StartupError is an expected outcome (nothing could listen): its message says it all
      const detail = err instanceof StartupError ? err.message : (err as Error).stack ?? String(err);
      server.logger.fatal('Server', `start failed: ${detail}`);
      report({ started: false, error: (err as Error).message });
      server.stop().finally(() => {
        removePidFile();
        process.exit(1);
      });
    },
  );
}

main(process.argv.slice(2));
