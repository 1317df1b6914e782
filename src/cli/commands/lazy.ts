// The module of each command, so that `cyclener predict` loads predict's code and not the server's, the experiment
// runner's or the trainers' (start-up time, docs/benchmarks.md). Without a known command (the overview, a typo) every
// command is loaded. test/e2e/cli-commands checks this map against the registry, so a new command cannot be left out.

export const COMMAND_MODULES: Readonly<Record<string, () => Promise<unknown>>> = {
  'baseline lexical': () => import('./baseline'),
  'data build': () => import('./data'),
  'data stats': () => import('./data'),
  demo: () => import('./demo'),
  evaluate: () => import('./evaluate'),
  experiment: () => import('./experiment'),
  export: () => import('./export'),
  gate: () => import('./gate'),
  predict: () => import('./predict'),
  pretrain: () => import('./pretrain'),
  report: () => import('./report'),
  serve: () => import('./serve'),
  train: () => import('./train'),
  'train-supervised': () => import('./train-supervised'),
};

/** Register the command `argv` names (the longest name its first words spell), else every command. */
export async function loadCommandsFor(argv: readonly string[]): Promise<void> {
  let load: (() => Promise<unknown>) | undefined;
  let used = 0;
  for (const [name, l] of Object.entries(COMMAND_MODULES)) {
    const words = name.split(' ');
    if (words.length > used && words.every((w, i) => argv[i] === w)) {
      load = l;
      used = words.length;
    }
  }
  await (load ? load() : import('./index'));
}
