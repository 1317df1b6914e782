// The paper's numbers (Iovine et al., WWW 2022), transcribed from Tables 4, 5, 6 and section 7.2
// (Figure 4 correlations), keyed like the experiment cells so the report can put ours beside them.

export interface PaperPRF {
  p?: number;
  r?: number;
  f1: number;
}

/** Key: `<dataset>` (Table 4, supervised T5 on the full train split). */
export const TABLE4_T5: Readonly<Record<string, PaperPRF>> = {
  conll2003: { f1: 0.913 },
  wnut17: { f1: 0.552 },
};

/** Other systems of Table 4, shown for context. */
export const TABLE4_OTHERS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  conll2003: { BiLSTM: 0.551, 'LUKE (SOTA)': 0.943 },
  wnut17: { 'T-NER (SOTA)': 0.585 },
};

/** Key: data configuration `<dataset>/<#S>/<#Q>-<gq|sq>` (F1 only in the paper). */
export const TABLE5A: Readonly<Record<string, number>> = {
  'conll2003/14k/100-gq': 0.619,
  'conll2003/14k/1k-gq': 0.814,
  'conll2003/14k/1.5k-gq': 0.823,
  'conll2003/14k/2k-gq': 0.842,
  'conll2003/14k/3k-gq': 0.852,
  'conll2003/14k/14k-gq': 0.885,
  'conll2003/14k/100-sq': 0.584,
  'conll2003/14k/1k-sq': 0.673,
  'conll2003/14k/1.5k-sq': 0.637,
  'conll2003/14k/2k-sq': 0.667,
  'conll2003/14k/3k-sq': 0.676,
  'conll2003/14k/14k-sq': 0.686,
  'wnut17/3.4k/500-gq': 0.327,
  'wnut17/3.4k/1k-gq': 0.338,
  'wnut17/3.4k/1.5k-gq': 0.316,
  'wnut17/3.4k/3.4k-gq': 0.332,
  'wnut17/3.4k/500-sq': 0.349,
  'wnut17/3.4k/1k-sq': 0.32,
  'wnut17/3.4k/1.5k-sq': 0.321,
  'wnut17/3.4k/3.4k-sq': 0.336,
};

export const TABLE5B: Readonly<Record<string, number>> = {
  'conll2003/1k/1k-gq': 0.804,
  'conll2003/1.5k/1k-gq': 0.797,
  'conll2003/2k/1k-gq': 0.825,
  'conll2003/3k/1k-gq': 0.823,
  'conll2003/14k/1k-gq': 0.814,
  'conll2003/1k/1k-sq': 0.609,
  'conll2003/1.5k/1k-sq': 0.616,
  'conll2003/2k/1k-sq': 0.613,
  'conll2003/3k/1k-sq': 0.628,
  'conll2003/14k/1k-sq': 0.673,
  'wnut17/500/500-gq': 0.282,
  'wnut17/1k/500-gq': 0.323,
  'wnut17/1.5k/500-gq': 0.335,
  'wnut17/3.4k/500-gq': 0.338,
  'wnut17/500/500-sq': 0.251,
  'wnut17/1k/500-sq': 0.292,
  'wnut17/1.5k/500-sq': 0.269,
  'wnut17/3.4k/500-sq': 0.32,
};

/** Key: `<kind>:<data configuration>` (CycleNER and Lexical Matcher rows of Table 6). */
export const TABLE6: Readonly<Record<string, PaperPRF>> = {
  'cyclener:conll2003/2k/1k-gq': { p: 0.814, r: 0.837, f1: 0.825 },
  'cyclener:conll2003/14k/14k-sq': { p: 0.75, r: 0.632, f1: 0.686 },
  'cyclener:wnut17/3.4k/1k-gq': { p: 0.322, r: 0.355, f1: 0.338 },
  'cyclener:wnut17/3.4k/3.4k-sq': { p: 0.339, r: 0.36, f1: 0.349 },
  'cyclener:ontonotes/116k/5k-gq': { p: 0.552, r: 0.798, f1: 0.653 },
  'cyclener:ontonotes/116k/116k-sq': { p: 0.54, r: 0.709, f1: 0.613 },
  'cyclener:bc2gm/12.5k/1k-gq': { p: 0.337, r: 0.541, f1: 0.415 },
  'cyclener:bc2gm/12.5k/12.5k-sq': { p: 0.332, r: 0.443, f1: 0.38 },
  'lexical:conll2003/1k/1k-gq': { p: 0.83, r: 0.279, f1: 0.418 },
  'lexical:ontonotes/5k/5k-gq': { p: 0.415, r: 0.41, f1: 0.412 },
  'lexical:bc2gm/1k/1k-gq': { p: 0.528, r: 0.135, f1: 0.215 },
};

/** Supervised BERT rows of Table 6 (the upper bound), for context. */
export const TABLE6_BERT: Readonly<Record<string, PaperPRF & { train: string }>> = {
  conll2003: { train: '/1k', p: 0.844, r: 0.876, f1: 0.86 },
  wnut17: { train: '/1k', p: 0.482, r: 0.369, f1: 0.418 },
  ontonotes: { train: '/5k', p: 0.756, r: 0.823, f1: 0.788 },
  bc2gm: { train: '/1k', p: 0.651, r: 0.713, f1: 0.681 },
};

/**
 * Section 7.2: Pearson of the dev E-cycle loss with F1 per configuration of Figure 4; for the
 * S-cycle loss the paper gives only the average over the four (0.41).
 */
export const FIGURE4_PEARSON_E: Readonly<Record<string, number>> = {
  'conll2003/14k/1k-gq': -0.81,
  'conll2003/14k/1k-sq': -0.87,
  'wnut17/3.4k/1k-gq': -0.73,
  'wnut17/3.4k/1k-sq': -0.59,
};
export const FIGURE4_PEARSON_S_MEAN = 0.41;

/** Sizes of the train splits (paper Table 1), to know when a GQ configuration needs S to reuse Q's sentences. */
export const TRAIN_SENTENCES: Readonly<Record<string, number>> = {
  conll2003: 14041,
  wnut17: 3394,
  ontonotes: 115864,
  bc2gm: 12574,
};
