// Public surface of the T5 package.
export * from './config';
export * from './safetensors';
export * from './tokenizer';
export * from './model';
export * from './checkpoint';
export * from './generation';
export * from './train';
export * from './precision';
export * from './normalize';
