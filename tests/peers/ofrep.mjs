// Evaluates flags against a running rampart through a real OpenFeature SDK and its OFREP provider,
// and prints every evaluation's details as one JSON array on stdout.
//
// Input (stdin, JSON):
//   {"baseUrl": "http://127.0.0.1:PORT", "token": "...",
//    "evaluations": [{"flag": "checkout-recs", "default": "none", "context": {"targetingKey": "u-1"}}]}
// Output: [{"flag", "value", "variant", "reason", "errorCode", "errorMessage", "flagMetadata"}, ...]
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const job = JSON.parse(await readStdin());
const headers = job.token ? [['Authorization', `Bearer ${job.token}`]] : [];
await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl: job.baseUrl, headers }));
const client = OpenFeature.getClient();

const out = [];
for (const e of job.evaluations) {
  const d = await client.getStringDetails(e.flag, e.default, e.context ?? {});
  out.push({
    flag: e.flag,
    value: d.value,
    variant: d.variant ?? null,
    reason: d.reason ?? null,
    errorCode: d.errorCode ?? null,
    errorMessage: d.errorMessage ?? null,
    flagMetadata: d.flagMetadata ?? {},
  });
}
process.stdout.write(JSON.stringify(out));
await OpenFeature.close();
