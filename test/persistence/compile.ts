/**
 * Compiles a fixture and the library it imports to plain JavaScript once per test file, so the crash
 * tests can start dozens of owners with bare `node`: under `--import tsx` each start costs ~0.9 s of CPU,
 * bare node ~0.25 s (measured on the 2-core dev box), which would be most of the time of 50 kill -9 rounds.
 *
 * esbuild (already installed as tsx's compiler) bundles the fixture and `src/` into one file in ~0.1 s;
 * when it cannot be loaded, TypeScript's `transpileModule` strips the types file by file instead (as
 * bench/transpile.ts does), which is slower to start. Either way only types are removed: the code that
 * runs is the same.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Esbuild {
  build(options: Record<string, unknown>): Promise<unknown>;
}

/**
 * Writes a runnable `.js` build of `fixture` (a path relative to the repository) under
 * `node_modules/.cache/<name>` and returns its path. The output stays inside the repository, so the
 * runtime dependencies (msgpackr) resolve from its `node_modules`.
 */
export async function compileFixture(fixture: string, name: string): Promise<string> {
  const out = path.join(ROOT, 'node_modules', '.cache', name);
  await mkdir(out, { recursive: true });
  // Below node_modules Node no longer sees the repository's package.json: say again that this is ESM.
  await writeFile(path.join(out, 'package.json'), '{ "type": "module" }\n');
  let esbuild: Esbuild | null = null;
  try {
    esbuild = (await import('esbuild' as string)) as Esbuild;
  } catch {
    // Not installed: fall back to TypeScript.
  }
  if (esbuild) {
    await esbuild.build({
      entryPoints: { main: path.join(ROOT, fixture) },
      bundle: true,
      // Dynamic imports (optional backends) stay separate chunks, loaded only if used, as from source.
      splitting: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      outdir: path.join(out, 'bundle'),
      logLevel: 'error',
    });
    return path.join(out, 'bundle', 'main.js');
  }
  const ts = (await import('typescript')).default;
  const entries = await readdir(path.join(ROOT, 'src'), { recursive: true, withFileTypes: true });
  const files = entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
  files.push(fixture);
  for (const file of files) {
    const source = await readFile(path.join(ROOT, file), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2023, verbatimModuleSyntax: true },
    });
    const target = path.join(out, file.replace(/\.ts$/, '.js'));
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, outputText);
  }
  return path.join(out, fixture.replace(/\.ts$/, '.js'));
}
