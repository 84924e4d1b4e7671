declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http";

  interface Persisted {
    save(): Promise<string>;
  }

  interface Grant extends Persisted {
    addResourceScope(resource: string, scope: string): void;
  }

  type ModelClass<T> = new (payload: Record<string, unknown>) => T;

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    callback(): (request: IncomingMessage, response: ServerResponse) => void;
    on(event: string, listener: (...args: unknown[]) => void): this;
    Grant: ModelClass<Grant>;
    AuthorizationCode: ModelClass<Persisted>;
    RefreshToken: ModelClass<Persisted>;
    AccessToken: ModelClass<Persisted>;
    Client: { find(id: string): Promise<unknown> };
  }
}

declare module "oidc-provider/lib/adapters/memory_adapter.js" {
  export default class MemoryAdapter {
    constructor(model: string, store?: unknown);
  }
}

declare module "oidc-provider/lib/helpers/lru.js" {
  export default class LRU {
    constructor(options: { maxSize: number });
  }
}
