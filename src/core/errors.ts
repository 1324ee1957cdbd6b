/**
 * Named errors. User input errors carry the path of the offending field, so a message reads
 * `switches[0].ports[2].netdev: no such interface "foo"`.
 */
export class ConfigError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(field ? `${field}: ${message}` : message);
    this.name = 'ConfigError';
    this.field = field;
  }
}

/** A lookup of something that does not exist (switch, port). */
export class NotFoundError extends ConfigError {
  constructor(field: string, message: string) {
    super(field, message);
    this.name = 'NotFoundError';
  }
}

/** The kernel refused a port operation (open, bind, TAP create). */
export class PortError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PortError';
  }
}
