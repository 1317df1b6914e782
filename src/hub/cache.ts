// The Hugging Face Hub cache layout (huggingface_hub's, shared with transformers and @huggingface/hub):
//   <cache>/models--ORG--NAME/refs/<revision>          the commit a branch or tag pointed to (no newline)
//   <cache>/models--ORG--NAME/blobs/<etag>             file contents, named by the Hub's ETag (sha256 for LFS, git sha1 else)
//   <cache>/models--ORG--NAME/snapshots/<commit>/<file>  relative symlink to ../../blobs/<etag>
//   <cache>/models--ORG--NAME/.no_exist/<commit>/<file>  empty marker: the Hub said 404 for this file at this commit
// A snapshot folder is a model directory as from save_pretrained, so the rest of the code reads it unchanged.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { atomicWriteFile } from '../util/fs';

export const COMMIT_RE = /^[0-9a-f]{40}$/;

export function repoFolderName(repoId: string): string {
  return ['models', ...repoId.split('/')].join('--');
}

export class RepoCache {
  readonly dir: string;

  constructor(
    cacheDir: string,
    readonly repoId: string,
  ) {
    this.dir = path.join(cacheDir, repoFolderName(repoId));
  }

  refFile(revision: string): string {
    return path.join(this.dir, 'refs', ...revision.split('/'));
  }

  /** The commit a revision names in the cache: itself when it is a commit hash, else refs/<revision>. */
  commitOf(revision: string): string | null {
    if (COMMIT_RE.test(revision)) return revision;
    try {
      const c = fs.readFileSync(this.refFile(revision), 'utf8').trim();
      return COMMIT_RE.test(c) ? c : null;
    } catch {
      return null;
    }
  }

  writeRef(revision: string, commit: string): void {
    if (revision === commit) return;
    const f = this.refFile(revision);
    if (this.commitOf(revision) === commit) return;
    fs.mkdirSync(path.dirname(f), { recursive: true });
    atomicWriteFile(f, commit);
  }

  snapshotDir(commit: string): string {
    return path.join(this.dir, 'snapshots', commit);
  }

  blobPath(etag: string): string {
    return path.join(this.dir, 'blobs', etag);
  }

  /** 'present' (the snapshot has it), 'absent' (the Hub said 404 before) or 'unknown'. */
  fileState(commit: string, file: string): 'present' | 'absent' | 'unknown' {
    if (fs.existsSync(path.join(this.snapshotDir(commit), file))) return 'present';
    if (fs.existsSync(path.join(this.dir, '.no_exist', commit, file))) return 'absent';
    return 'unknown';
  }

  markAbsent(commit: string, file: string): void {
    const f = path.join(this.dir, '.no_exist', commit, file);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, '');
  }

  /** snapshots/<commit>/<file> -> blobs/<etag> as a relative symlink (a copy where symlinks are not allowed). */
  link(commit: string, file: string, etag: string): string {
    const pointer = path.join(this.snapshotDir(commit), file);
    const blob = this.blobPath(etag);
    fs.mkdirSync(path.dirname(pointer), { recursive: true });
    const tmp = `${pointer}.tmp-${process.pid}`;
    fs.rmSync(tmp, { force: true });
    try {
      fs.symlinkSync(path.relative(path.dirname(pointer), blob), tmp);
    } catch {
      fs.copyFileSync(blob, tmp);
    }
    fs.renameSync(tmp, pointer);
    return pointer;
  }
}
