/**
 * The one way SR-IOV code runs a program (`ip link set PF vf N …`, `modprobe vfio-pci`): a `CommandRunner`.
 * The daemon uses `ExecRunner`; tests use `RecordingRunner` and check the exact argument vectors issued.
 */
import { execFile } from 'node:child_process';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandRunner {
  run(argv: readonly string[]): Promise<CommandResult>;
}

export class ExecRunner implements CommandRunner {
  constructor(private readonly timeoutMs = 10_000) {}
  run(argv: readonly string[]): Promise<CommandResult> {
    return new Promise((resolve) => {
      execFile(argv[0], argv.slice(1), { timeout: this.timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 127) : 0;
        resolve({ code, stdout, stderr: stderr || (err && code === 127 ? err.message : '') });
      });
    });
  }
}

/** Records every command; answers each with `answer` (default: success), which may also act (load a driver). */
export class RecordingRunner implements CommandRunner {
  readonly commands: string[][] = [];
  constructor(private readonly answer: (argv: readonly string[]) => CommandResult = () => ({ code: 0, stdout: '', stderr: '' })) {}
  async run(argv: readonly string[]): Promise<CommandResult> {
    this.commands.push([...argv]);
    return this.answer(argv);
  }
  /** the commands as shell lines */
  get lines(): string[] {
    return this.commands.map((c) => c.join(' '));
  }
}
