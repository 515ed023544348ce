/**
 * Compiles the bench and the library to plain JavaScript once per bench run, so cluster workers start
 * with bare `node` instead of `--import tsx`.
 *
 * Why: tsx costs each process ~0.5 s of CPU to start (measured on the 2-core dev box: 0.6 s vs 0.12 s
 * for bare node). A fresh cluster per cell means ~120 worker starts per run, which alone would blow the
 * time budget of `--quick`, and on 2 cores 4 starting workers also steal CPU from each other. The code is
 * only stripped of types (TypeScript's `transpileModule`, the same per-file transform tsx does with
 * esbuild), so the workers run the same JavaScript.
 */
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** node_modules/.cache is where build tools keep caches: ignored by git and by the linters. */
const OUT = path.join(ROOT, 'node_modules', '.cache', 'sharedkv-bench');
/** The trees the workers import: the bench itself, the library it measures, and scripts/ (its Redis process). */
const TREES = ['bench', 'src', 'scripts'];

async function listTs(dir: string): Promise<string[]> {
  const entries = await readdir(path.join(ROOT, dir), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

/** Source file → the `mtimeMs:size` it had when compiled: unchanged files are not compiled again. */
type Manifest = Record<string, string>;

async function readManifest(file: string): Promise<Manifest> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Manifest;
  } catch {
    return {};
  }
}

/**
 * Writes `.js` copies of `bench/` and `src/` under `node_modules/.cache/sharedkv-bench` and returns the
 * path of the compiled `bench/run.js`. The copy sits inside the repository, so `msgpackr` and the other
 * dependencies resolve from the same `node_modules`.
 *
 * Only files changed since the last run are compiled (by mtime and size), and the compiler is loaded only
 * when one is: on a busy 2-core box loading TypeScript and compiling ~100 files costs 10–20 s.
 *
 * @throws Error when TypeScript is not installed or a file does not compile.
 */
export async function transpileForWorkers(): Promise<string> {
  const manifestFile = path.join(OUT, 'manifest.json');
  const previous = await readManifest(manifestFile);
  const manifest: Manifest = {};
  const files = (await Promise.all(TREES.map(listTs))).flat();
  const stale: string[] = [];
  for (const file of files) {
    const info = await stat(path.join(ROOT, file));
    manifest[file] = `${info.mtimeMs}:${info.size}`;
    if (previous[file] !== manifest[file]) stale.push(file);
  }
  // Loaded lazily: only the primary needs the compiler, and only when something changed.
  const ts = stale.length > 0 ? (await import('typescript')).default : undefined;
  for (const file of stale) {
    const source = await readFile(path.join(ROOT, file), 'utf8');
    const { outputText, diagnostics } = ts!.transpileModule(source, {
      fileName: file,
      reportDiagnostics: true,
      compilerOptions: {
        // ESNext, not NodeNext: outside the package the compiler could not tell these files are ESM.
        module: ts!.ModuleKind.ESNext,
        target: ts!.ScriptTarget.ES2023,
        verbatimModuleSyntax: true,
      },
    });
    if (diagnostics !== undefined && diagnostics.length > 0) {
      const text = ts!.flattenDiagnosticMessageText(diagnostics[0]!.messageText, '\n');
      throw new Error(`cannot transpile ${file}: ${text}`);
    }
    const target = path.join(OUT, file.replace(/\.ts$/, '.js'));
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, outputText);
  }
  // Outputs of deleted sources must not linger: a stale module could still be imported by mistake.
  for (const file of Object.keys(previous)) {
    if (manifest[file] === undefined) await rm(path.join(OUT, file.replace(/\.ts$/, '.js')), { force: true });
  }
  // The cache is below node_modules, where Node stops looking for the repository's package.json.
  await writeFile(path.join(OUT, 'package.json'), '{ "type": "module" }\n');
  await writeFile(manifestFile, `${JSON.stringify(manifest)}\n`);
  return path.join(OUT, 'bench', 'run.js');
}

/** `execArgv` without the tsx loader flags (`--import tsx`, `--require …/tsx/…`, and the like). */
export function withoutTsx(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    const next = execArgv[i + 1];
    if (/^--(import|require|loader|experimental-loader)$/.test(arg) && next?.includes('tsx')) {
      i++;
    } else if (!(arg.startsWith('--') && arg.includes('tsx'))) {
      out.push(arg);
    }
  }
  return out;
}
