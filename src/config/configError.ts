/** A configuration mistake: printed to stderr without a stack, and the process exits with code 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export const CONFIG_EXIT_CODE = 2;
