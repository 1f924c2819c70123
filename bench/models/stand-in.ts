/**
 * The stand-in upstream of bench/models (test/support/model-upstream.ts) in a
 * process of its own, as a provider is: run.ts forks it with the stand-in's
 * options as JSON in argv[2]. It sends its OpenAI base URL as its first
 * message, answers 'reset' by forgetting the requests recorded (then 'reset'),
 * and closes when its parent goes.
 */
import { startModelUpstream } from '../../test/support/model-upstream.js';

const upstream = await startModelUpstream(JSON.parse(process.argv[2] ?? '{}'));
process.on('message', (m) => {
  if (m !== 'reset') return;
  upstream.reset();
  process.send?.('reset');
});
process.on('disconnect', () => {
  void upstream.close().finally(() => process.exit(0));
});
process.send?.({ openaiBaseURL: upstream.openaiBaseURL });
