import type { ServiceClient } from './client.js';
import { CliError, EXIT } from './errors.js';
import { isFinished, type JobState } from './job-state.js';

/** Events are at-most-once: the status is asked again this often, in case one was lost. */
const POLL_MS = 5_000;

export async function jobStatus(client: ServiceClient, id: string): Promise<JobState> {
  const { reply: _reply, ...state } = await client.requestJson<JobState>('status', id);
  return state;
}

/**
 * Follows a job until it is done or failed, calling `onState` with each newer state. The events
 * subscription is in place (flushed) before the status is first asked, so no change between the
 * two is missed; stale or repeated states (older `updatedAt`) are dropped.
 */
export async function followJob(client: ServiceClient, id: string, onState: (state: JobState) => void): Promise<JobState> {
  const sub = client.nc.subscribe(client.subject(`events.${id}`));
  let latest: JobState | undefined;
  let finish!: (state: JobState) => void;
  let fail!: (err: unknown) => void;
  const finished = new Promise<JobState>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const offer = (state: JobState) => {
    if (latest && (state.updatedAt < latest.updatedAt || isFinished(latest))) return;
    latest = state;
    onState(state);
    if (isFinished(state)) finish(state);
  };
  const poll = () => jobStatus(client, id).then(offer, fail);
  // A later poll that finds nobody (the service restarting) is no reason to stop following.
  const pollAgain = () => jobStatus(client, id).then(offer, (err: unknown) => (err instanceof CliError && err.exitCode === EXIT.unreachable ? undefined : fail(err)));
  const timer = setInterval(() => void pollAgain(), POLL_MS);
  try {
    void (async () => {
      for await (const msg of sub) {
        try {
          offer(msg.json<JobState>());
        } catch {
          // not a job state: ignore
        }
      }
    })();
    await client.nc.flush();
    await poll();
    return await finished;
  } finally {
    clearInterval(timer);
    sub.unsubscribe();
  }
}
