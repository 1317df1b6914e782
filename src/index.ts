// The cyclener library: `require('cyclener')` / `import … from 'cyclener'`. See docs/api.md.
//
//   const { NerModel } = require('cyclener');
//   const ner = await NerModel.load('runs/conll/best', { threads: 2 });
//   const [entities] = await ner.predict(['Angela Merkel visited Paris.']);
//   ner.dispose();

export {
  NerModel,
  type NerEntity,
  type HfEntity,
  type SpacyDoc,
  type OutputFormat,
  type Shaped,
  type LoadOptions,
  type NerPredictOptions,
  type ModelInfo,
  type NerStats,
} from './api/ner-model';
export {
  train,
  trainSupervised,
  type TrainOptions,
  type TrainResult,
  type SupervisedOptions,
  type ReaderSettings,
  type ProgressEvent,
  type RunHooks,
  type EntitiesOf,
} from './api/train';
export {
  evaluate,
  evaluationJson,
  formatEvaluation,
  type EvaluateOptions,
  type Evaluation,
  type ModelEvaluation,
  type CalibrationFit,
  type CalibrationMethod,
  type PredFormat,
  type VerbalizerChoice,
} from './api/evaluate';
export {
  chunkText,
  mergePieces,
  sentenceRanges,
  type Piece,
  type ChunkOptions,
  type CountTokens,
  type PlacedEntity,
} from './api/chunk';
export {
  buildData,
  dataStats,
  formatDataStats,
  type BuildDataOptions,
  type DataStats,
  type DataStatsOptions,
  type StatsFormat,
} from './api/data';
export {
  predictFile,
  openFilePrediction,
  type PredictFileOptions,
  type PredictFileSummary,
  type PredictFileFormat,
  type InputFormat,
  type FilePrediction,
} from './api/predict';
export { exportOnnx, type ExportOnnxOptions, type ExportOnnxResult } from './api/export';
export { gate, type GateOptions, type GateResult, type GateVerbalizer } from './api/gate';
export { pretrain, type PretrainOptions, type PretrainSummary } from './api/pretrain';
export type { GateRow, GateSettings } from './supervised/gate';
export type { BuildResult } from './data/build';
export { startServer, type ServeOptions, type Server } from './serve/server';
export type { CycleConfig } from './cycle/config';
export type { CycleResult } from './cycle/trainer';
export type { SupervisedResult } from './supervised/supervised';
export type {
  MetricsRecord,
  StepRecord,
  EvalRecord,
  EndRecord,
  CycleStepRecord,
  CycleEvalRecord,
  SupervisedStepRecord,
  SupervisedEvalRecord,
  PretrainStepRecord,
  PretrainEvalRecord,
} from './run/metrics';
export type { StopReason } from './run/stop';
export type { EvalReport, ScoreTable, PRF } from './eval/metrics';
export type { SeqEntity } from './data/entity-seq';
export { readLabeled, type LabeledCorpus } from './data/readers';
export type { ModelSource } from './hub';
