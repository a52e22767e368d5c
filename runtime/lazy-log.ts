// A request's logger, with its bindings (request id, model), made only when a line is written.
// pino's child() serializes its bindings and builds a logger object: per request, that is work
// and garbage for lines that, at the usual level, are never written (a request that goes well
// logs at debug only).
import type { Bindings, Logger } from 'pino';

type Level = 'error' | 'warn' | 'info' | 'debug';

/** What request code logs through: a pino logger, or a LazyChild of one. */
export interface RequestLog {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** `parent.child(bindings)`, made on the first line the parent's level lets through. */
export class LazyChild implements RequestLog {
  readonly #parent: Logger;
  readonly #bindings: Bindings;
  #child: Logger | null = null;

  constructor(parent: Logger, bindings: Bindings) {
    this.#parent = parent;
    this.#bindings = bindings;
  }

  error(obj: object, msg: string): void {
    this.#write('error', obj, msg);
  }

  warn(obj: object, msg: string): void {
    this.#write('warn', obj, msg);
  }

  info(obj: object, msg: string): void {
    this.#write('info', obj, msg);
  }

  debug(obj: object, msg: string): void {
    this.#write('debug', obj, msg);
  }

  #write(level: Level, obj: object, msg: string): void {
    if (this.#child === null) {
      if (!this.#parent.isLevelEnabled(level)) return;
      this.#child = this.#parent.child(this.#bindings);
    }
    // Once made, the child's own level decides, as it would have for an eager child.
    this.#child[level](obj, msg);
  }
}
