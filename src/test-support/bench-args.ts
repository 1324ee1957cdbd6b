/** `--name N` from the command line of a bench (a positive number), or `def`; exits 2 naming the option otherwise */
export function benchArg(name: string, def: number): number {
  const k = process.argv.indexOf(`--${name}`);
  if (k < 0) return def;
  const v = Number(process.argv[k + 1]);
  if (!Number.isFinite(v) || v <= 0) {
    process.stderr.write(`--${name}: expected a positive number, got ${JSON.stringify(process.argv[k + 1])}\n`);
    process.exit(2);
  }
  return v;
}
