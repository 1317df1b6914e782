// An error in how a command or library call was asked (exit 2 at the CLI): the bottom layer, so that library code can
// throw it without importing the CLI.

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
