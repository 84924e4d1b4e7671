export class UsageError extends Error {}

export const USAGE = `Usage: keyward <command> [options]

Commands:
  start                                   run the server (PORT, HOST, DATABASE_URL, KEYWARD_* from the environment)
  migrate                                 bring the database schema up to date
  clients create --name NAME --redirect-uri URL [--redirect-uri URL ...] --scope "SCOPES" [--json]
  clients list [--json]
  clients show ID [--json]
  clients delete ID
  clients rotate-secret ID [--json]
  users create --email EMAIL --password PASSWORD [--display-name NAME] [--json]
  keys rotate [--json]                    make a new signing key current; old keys stay published
  help                                    show this text

Every command uses the same database and configuration as the server.`;
