export { hubSettings, type HubSettings } from './env';
export { RepoCache, repoFolderName, COMMIT_RE } from './cache';
export { HubError } from './http';
export { resolveModel, parseModelId, modelSource, type ModelSource, type ResolvedModel, type ModelId } from './resolve';
