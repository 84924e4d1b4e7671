/**
 * The 200 bodies of the token and introspection endpoints. With a response schema Fastify serializes
 * through fast-json-stringify: a long string that needs no escaping (a JWT, most of a token
 * response) is checked by one regular expression and copied, where JSON.stringify inspects it
 * character by character. A property missing from a schema is not sent, so each lists every field
 * its route returns.
 */
const string = { type: "string" } as const;
const integer = { type: "integer" } as const;

export const TOKEN_RESPONSE = {
  200: {
    type: "object",
    properties: {
      access_token: string,
      refresh_token: string,
      token_type: string,
      expires_in: integer,
      scope: string,
    },
  },
} as const;

export const INTROSPECTION_RESPONSE = {
  200: {
    type: "object",
    properties: {
      active: { type: "boolean" },
      scope: string,
      client: string,
      client_id: string,
      token_type: string,
      exp: integer,
      iat: integer,
      nbf: integer,
      jti: string,
      sub: string,
    },
  },
} as const;
