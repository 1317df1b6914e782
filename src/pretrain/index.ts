// Public surface of the pretraining package (`cyclener pretrain`).
export * from './text';
export * from './noise';
export * from './objectives';
export * from './corpus';
export * from './sampler';
export * from './spm';
export * from './schedule';
export * from './metrics';
export * from './train-state';
export * from './pretrain';
export * from './settings';
