// Shared types for labelled and unlabelled sentences. Predict and evaluate code use these,
// so keep them stable.

export type TagScheme = 'IOB1' | 'IOB2' | 'IOBES' | 'BILOU';

/** Half-open range [start, end). */
export interface Range {
  start: number;
  end: number;
}

/** An entity mention. Token indices and character offsets are both half-open. */
export interface Entity {
  /** First token index. */
  start: number;
  /** One past the last token index. */
  end: number;
  /** Character offset of the first character in `text`. */
  charStart: number;
  /** Character offset one past the last character in `text`. */
  charEnd: number;
  /** Dataset label, e.g. `PER` (not the verbalised word). */
  label: string;
  /** `text.slice(charStart, charEnd)`: the surface form as it appears in the sentence. */
  surface: string;
  /** A predicted entity's confidence in [0, 1] (src/eval/calibration.ts), when the model gave one. */
  score?: number;
}

export interface LabeledSentence {
  tokens: string[];
  /** Tags as read from the file, in `scheme` (for JSONL input: IOB2 built from the spans). */
  tags: string[];
  scheme: TagScheme;
  /** Detokenised text (or the JSONL text verbatim). */
  text: string;
  /** Character range of every token in `text`: text.slice(o.start, o.end) === tokens[i]. */
  offsets: Range[];
  entities: Entity[];
  /** Where the sentence starts in its file (1-based line), for error messages. */
  source?: { file: string; line: number };
}

/** Span-only mention used by the metrics (token or character coordinates, see caller). */
export interface Mention {
  start: number;
  end: number;
  label: string;
  surface?: string;
  /** A prediction's confidence in [0, 1], when known (threshold sweeps). */
  score?: number;
}
