import Fastify from "fastify";

/**
 * The floor: a bare Fastify endpoint that parses a form body and answers a small JSON object,
 * shaped so every operation's response check passes. What Node's HTTP stack alone can do here.
 */
const app = Fastify({ logger: false, bodyLimit: 16 * 1024 });

app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_request, body, done) => {
  done(null, Object.fromEntries(new URLSearchParams(body as string)));
});

const ANSWER = { active: true, access_token: "floor", refresh_token: "floor", token_type: "Bearer" };
app.post("/*", async () => ANSWER);

await app.listen({ port: Number(process.env.PORT), host: "127.0.0.1" });
