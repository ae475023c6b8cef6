import { ServiceError, UnavailableError } from '../errors.js';

/**
 * Runs a request's quick look at something the service depends on (MySQL, the catalog). A
 * ServiceError it throws is its answer (a database not found); any other failure means it cannot
 * be asked now: UnavailableError, `<what>: <why>`.
 */
export async function orUnavailable<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ServiceError) throw err;
    throw new UnavailableError(`${what}: ${(err as Error).message}`, { cause: err });
  }
}
