/**
 * Webhook URLs as the log and the weaker roles see them. Incoming-webhook URLs (Slack, Teams,
 * Mattermost) carry their secret in the path: whoever has one can post to that channel.
 */

/** `https://hooks.example.net/…`: the origin only. */
export function webhookOrigin(url: string): string {
  try {
    return `${new URL(url).origin}/…`;
  } catch {
    return '(a malformed URL)';
  }
}

/** Policies (as the API lists them) with every `notify.webhooks` entry cut to its origin. */
export function maskPolicyWebhooks(policies: unknown): unknown {
  if (!Array.isArray(policies)) {
    return policies;
  }
  return policies.map((p: unknown) => {
    const notify = (p as { notify?: { webhooks?: unknown } } | null)?.notify;
    if (!Array.isArray(notify?.webhooks)) {
      return p;
    }
    const webhooks = notify.webhooks.map((u: unknown) =>
      typeof u === 'string' ? webhookOrigin(u) : u,
    );
    return { ...(p as object), notify: { ...notify, webhooks } };
  });
}
