/**
 * Temporary folders that remove themselves: every folder made here is deleted once the test file
 * has run (node:test `after` at file level, so servers and children stopped by the tests' own
 * `t.after` are gone by then), and again at process exit in case a test file was cut short.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';

const made = new Set<string>();

function removeAll(): void {
  for (const dir of made) {
    try {
      // retries: a child process being killed may still be closing its log file in there
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
      made.delete(dir);
    } catch {
      // left for the exit hook
    }
  }
}

// registered when the test file imports this module, outside any test: the hook belongs to the
// file's root and runs after every test of the file and their own after hooks
after(removeAll);
process.on('exit', removeAll);

/** A new empty folder under the OS temp dir, removed when the test file ends. */
export function tempDir(prefix = 'monats-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.add(dir);
  return dir;
}
