export class UsageError extends Error {}

export const USAGE = `Usage: keyward <command> [options]

Commands:
  start [--workers N]                     run the server (PORT, HOST, DATABASE_URL, KEYWARD_* from the environment);
                                          with N > 1, N processes share the port (default KEYWARD_WORKERS or 1)
  migrate                                 bring the database schema up to date (start does it too)
  prune [--json]                          delete expired codes, tokens, sessions, empty lineages and
                                          retired signing keys no longer published, now
  clients create --name NAME --redirect-uri URL [--redirect-uri URL ...] --scope "SCOPES" [--json]
  clients list [--json]
  clients show ID [--json]
  clients update ID [--name NAME] [--redirect-uri URL ...] [--scope "SCOPES"] [--json]
                                          replace the name, the whole list of redirect URIs or the scopes;
                                          tokens refreshed from then on carry only scopes still allowed
  clients delete ID
  clients rotate-secret ID [--previous-valid-for SECONDS] [--json]
                                          a new secret; the old one stops at once, or after SECONDS
                                          (up to 30 days), so the integration can deploy the new one first
  users create --email EMAIL --password PASSWORD [--display-name NAME] [--json]
  users list [--json]                     every user: id, email and display name
  users show --email EMAIL [--json]       the user and the integrations they have connected
  users sign-out --email EMAIL [--json]   end the user's sign-in sessions; what they granted integrations stays
  users disconnect --email EMAIL --client CLIENT_ID [--json]
                                          withdraw the user's consent to one integration and revoke its tokens
  users set-password --email EMAIL --password PASSWORD
                                          a new password; the user's sign-in sessions end
  users delete --email EMAIL              the user, their sessions, consents and every token issued for them
  keys rotate [--webhooks] [--json]       make a new key current for signing tokens (or, with --webhooks,
                                          webhook notifications); old keys stay published
  backup FILE [--json]                    copy the SQLite database to FILE (a new file) while servers run;
                                          restoring it needs the same secret
  help                                    show this text

Every command uses the same database and configuration as the server.`;
