/** Table and column types as Kysely sees them; one schema for SQLite and PostgreSQL. */
export interface Database {
  clients: {
    id: string;
    name: string;
    secret_hash: string;
    previous_secret_hash: string | null;
    previous_secret_expires_at: number | null;
    redirect_uris: string;
    scopes: string;
    created_at: number;
    updated_at: number;
  };
  users: {
    id: string;
    email: string;
    password_hash: string;
    display_name: string;
    team_id: string;
    created_at: number;
  };
  consents: {
    client_id: string;
    user_id: string;
    scopes: string;
    updated_at: number;
  };
  grants: {
    id: string;
    client_id: string;
    user_id: string;
    scopes: string;
    created_at: number;
    revoked_at: number | null;
  };
  authorization_codes: {
    hash: string;
    grant_id: string;
    client_id: string;
    user_id: string;
    redirect_uri: string;
    redirect_uri_explicit: number;
    code_challenge: string | null;
    scopes: string;
    created_at: number;
    expires_at: number;
    consumed_at: number | null;
  };
  tokens: {
    hash: string;
    kind: string;
    jti: string;
    grant_id: string;
    client_id: string;
    user_id: string;
    scopes: string;
    created_at: number;
    expires_at: number;
    consumed_at: number | null;
    /** Of a rotated refresh token: the hash of the refresh token that replaced it. */
    successor: string | null;
  };
  signing_keys: KeyTable;
  webhook_keys: KeyTable;
  sessions: {
    hash: string;
    user_id: string;
    created_at: number;
    expires_at: number;
  };
  secret_check: {
    id: string;
    value: string;
  };
}

/** A signing key: `signing_keys` sign tokens, `webhook_keys` webhook notifications. */
export interface KeyTable {
  kid: string;
  alg: string;
  public_jwk: string;
  private_jwk_encrypted: string;
  created_at: number;
  retired_at: number | null;
  publish_until: number | null;
}
