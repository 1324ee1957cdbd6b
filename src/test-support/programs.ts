/**
 * Finding the programs a source file runs (for test/installed-programs.test.ts): TypeScript spawn/exec
 * calls and NetLab argument lists, shell scripts' command names. Pragmatic, not a shell parser: see the
 * test's header for what is found.
 */

export interface Use {
  program: string;
  /** path relative to the repository, with the line */
  where: string;
}

/** words the shell parser takes for a command but are not programs run on the host */
const NOT_PROGRAMS = new Set<string>([]);

const BUILTINS = new Set(('alias bg bind break builtin caller cd command compgen complete continue declare dirs disown echo enable eval exec exit '
  + 'export false fc fg getopts hash help history jobs kill let local logout mapfile popd printf pushd pwd read readarray readonly return set '
  + 'shift shopt source suspend test times trap true type typeset ulimit umask unalias unset wait . : [ [[ ]] ]').split(' '));
const KEYWORDS = new Set('if then else elif fi for in do done while until case esac function select time ! { }'.split(' '));
/** commands that run the next word as a program */
const WRAPPERS = new Set(['exec', 'env', 'timeout', 'nice', 'nohup', 'sudo', 'xargs', 'setsid', 'taskset', 'stdbuf', 'chroot']);
const WORD = /^[A-Za-z_][A-Za-z0-9_.+-]*$/;

const lineOf = (text: string, index: number): number => text.slice(0, index).split('\n').length;

export function tsUses(rel: string, text: string): Use[] {
  const out: Use[] = [];
  const add = (program: string, index: number): void => { if (WORD.test(program)) out.push({ program, where: `${rel}:${lineOf(text, index)}` }); };
  // spawn('x', ...), execFileSync('x'), sh('x', ...), run('x', ...), has('x', ...)
  for (const m of text.matchAll(/\b(?:spawn|spawnSync|exec|execSync|execFile|execFileSync)\(\s*['"`]([^'"`\s$]+)/g)) add(m[1], m.index);
  for (const m of text.matchAll(/(?<![.\w])(?:sh|run|has)\(\s*['"`]([^'"`\s$]+)/g)) add(m[1], m.index);
  // NetLab.exec(host, ['x', ...]) and spawnIn(host, ['x', ...])
  for (const m of text.matchAll(/\b(?:exec|spawnIn)\(\s*[^,()[\]]+,\s*\[\s*['"`]([^'"`\s$]+)/g)) add(m[1], m.index);
  // 'netns', 'exec', NS, 'x'
  for (const m of text.matchAll(/'netns',\s*'exec',\s*[^,]+,\s*['"`]([^'"`\s$]+)/g)) add(m[1], m.index);
  return out;
}

/** the commands of a shell script: splits at ; | & { } ` and newlines, and into $( ) and ( ) (nested, quote-aware) */
function shSegments(src: string): { text: string; index: number; caseLabel: boolean }[] {
  const segs: { text: string; index: number; caseLabel: boolean }[] = [];
  let cur = '';
  let start = 0;
  let sq = false;
  let dq = false;
  const stack: { dq: boolean; cur: string; start: number }[] = []; // the command around each open $( or (
  const cut = (i: number, caseLabel = false): void => { segs.push({ text: cur, index: start, caseLabel }); cur = ''; start = i + 1; };
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (sq) { if (c === "'") sq = false; cur += c; continue; }
    if (c === '\\') { cur += c + (src[i + 1] ?? ''); i++; continue; }
    if (src.startsWith('((', c === '$' ? i + 1 : i) && (c === '$' || (c === '(' && !dq))) { // arithmetic: no commands
      const end = src.indexOf('))', i);
      const j = end < 0 ? src.length : end + 2;
      cur += src.slice(i, j);
      i = j - 1;
      continue;
    }
    if (c === '$' && src[i + 1] === '{') { // parameter expansion: no commands
      let depth = 0;
      let j = i + 1;
      for (; j < src.length; j++) { if (src[j] === '{') depth++; else if (src[j] === '}' && --depth === 0) break; }
      cur += src.slice(i, j + 1);
      i = j;
      continue;
    }
    if ((c === '$' && src[i + 1] === '(') || (c === '(' && !dq)) {
      stack.push({ dq, cur, start });
      dq = false;
      cur = '';
      if (c === '$') i++;
      start = i + 1;
      continue;
    }
    if (dq) { if (c === '"') dq = false; cur += c; continue; }
    if (c === "'") { sq = true; cur += c; continue; }
    if (c === '"') { dq = true; cur += c; continue; }
    if (c === '#' && (cur === '' || /\s$/.test(cur))) { // comment to end of line
      while (i + 1 < src.length && src[i + 1] !== '\n') i++;
      continue;
    }
    if (c === ')') {
      const outer = stack.pop();
      if (!outer) { cut(i, true); continue; } // a `)` that closes nothing ends a case label
      cut(i);
      dq = outer.dq;
      cur = `${outer.cur}(…)`;
      start = outer.start;
      continue;
    }
    if (';|&{}`\n'.includes(c)) { cut(i); continue; }
    cur += c;
  }
  cut(src.length);
  return segs;
}

/** the words of a simple command (whitespace outside quotes separates) */
function shWords(text: string): string[] {
  const words: string[] = [];
  let w = '';
  let q = '';
  for (const c of text) {
    if (q) { if (c === q) q = ''; w += c; continue; }
    if (c === '"' || c === "'") { q = c; w += c; continue; }
    if (/\s/.test(c)) { if (w) words.push(w); w = ''; continue; }
    w += c;
  }
  if (w) words.push(w);
  return words;
}

/** the shell functions a script defines (`name() {` or `function name`) */
export function shFunctions(text: string): string[] {
  return [...text.matchAll(/^\s*(?:function\s+([A-Za-z_][\w-]*)|([A-Za-z_][\w-]*)\s*\(\))/gm)].map((m) => m[1] ?? m[2]);
}

/** `sourced`: functions defined in the files a script sources (they are not programs either) */
export function shUses(rel: string, raw: string, sourced: ReadonlySet<string> = new Set()): Use[] {
  // heredoc bodies are data (or another interpreter's code); line continuations join
  const lines = raw.split('\n');
  const kept: string[] = [];
  for (let k = 0; k < lines.length; k++) {
    const code = lines[k].replace(/(^|\s)#.*/, '');
    // an array assignment NAME=( ... ) holds words, not commands
    if (/^\s*\w+=\(/.test(code)) {
      kept.push('');
      if (!code.includes(')')) while (k + 1 < lines.length && !lines[++k].replace(/(^|\s)#.*/, '').includes(')')) kept.push('');
      continue;
    }
    kept.push(lines[k]);
    const h = /<<-?\s*['"]?(\w+)['"]?/.exec(code);
    if (h) {
      while (k + 1 < lines.length && lines[k + 1].trim() !== h[1]) { k++; kept.push(''); }
      if (k + 1 < lines.length) { k++; kept.push(''); } // the terminator
    }
  }
  const text = kept.join('\n').replace(/\\\n/g, '  ');
  const functions = new Set([...shFunctions(text), ...sourced]);
  const out: Use[] = [];
  for (const seg of shSegments(text)) {
    if (seg.caseLabel) continue;
    const words = shWords(seg.text);
    let k = 0;
    const next = (): string | undefined => {
      while (k < words.length && (/^\w+(\[[^\]]*\])?\+?=/.test(words[k]) || /^\d*[<>]/.test(words[k]))) k++; // assignments, redirections
      return words[k];
    };
    let w = next();
    if (w === undefined || KEYWORDS.has(w) && !['then', 'do', 'else', '!', '{', 'time'].includes(w)) continue; // for/case/while heads
    while (w !== undefined && ['then', 'do', 'else', '!', '{', 'time'].includes(w)) { k++; w = next(); }
    if (w === 'command' && words[k + 1] === '-v') continue; // a check, not a run
    for (let guard = 0; w !== undefined && guard < 4; guard++) {
      if (WRAPPERS.has(w)) {
        const wrapper = w;
        k++;
        while (k < words.length && (words[k].startsWith('-') || /^\w+=/.test(words[k]) || (wrapper === 'timeout' && /^\d/.test(words[k])))) k++;
        w = next();
        continue;
      }
      if (w === 'ip' && words[k + 1] === 'netns' && words[k + 2] === 'exec' && words[k + 3] !== undefined) {
        out.push({ program: 'ip', where: `${rel}:${lineOf(text, seg.index)}` });
        k += 4;
        w = next();
        continue;
      }
      break;
    }
    if (w === undefined || !WORD.test(w) || BUILTINS.has(w) || KEYWORDS.has(w) || functions.has(w) || NOT_PROGRAMS.has(w)) continue;
    out.push({ program: w, where: `${rel}:${lineOf(text, seg.index)}` });
  }
  return out;
}

/** packages the project's scripts install: `APT_PACKAGES=( ... )` arrays and `apt-install.sh PKG...` lines */
export function aptPackages(text: string): string[] {
  const pkgs: string[] = [];
  const lines = text.split('\n');
  for (let k = 0; k < lines.length; k++) {
    const open = /APT_PACKAGES=\((.*)/.exec(lines[k]);
    if (!open) continue;
    // the array runs to the first `)` outside a comment
    for (let body = open[1]; ; body = lines[++k] ?? ')') {
      const code = body.replace(/#.*/, '');
      const end = code.indexOf(')');
      pkgs.push(...(end < 0 ? code : code.slice(0, end)).trim().split(/\s+/).filter((w) => /^[a-z0-9][a-z0-9.+-]+$/.test(w)));
      if (end >= 0) break;
    }
  }
  for (const m of text.matchAll(/apt-install\.sh"?\s+([^\n]*)/g)) {
    pkgs.push(...m[1].replace(/#.*/, '').trim().split(/\s+/).filter((w) => /^[a-z0-9][a-z0-9.+-]+$/.test(w)));
  }
  return pkgs;
}

