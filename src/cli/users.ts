import { createUser, isPlausibleEmail } from "../core/users.js";
import type { Runtime } from "../runtime.js";
import { DuplicateError } from "../store/types.js";
import { print } from "./output.js";
import { UsageError } from "./usage.js";

export const MIN_PASSWORD_LENGTH = 8;

export async function runUsersCommand(
  runtime: Runtime,
  sub: string | undefined,
  values: { email?: string; password?: string; "display-name"?: string; json?: boolean },
): Promise<number> {
  if (sub !== "create") throw new UsageError(`unknown users command: ${sub ?? "(none)"}; expected create`);
  const email = values.email?.trim();
  if (!email) throw new UsageError("--email is required");
  if (!isPlausibleEmail(email)) throw new UsageError(`--email ${email} is not an email address`);
  const password = values.password;
  if (!password) throw new UsageError("--password is required");
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new UsageError(`--password must be at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  try {
    const user = await createUser(runtime.core, { email, password, displayName: values["display-name"] });
    print(values.json === true, { user_id: user.id, email: user.email, display_name: user.displayName });
    return 0;
  } catch (error) {
    if (error instanceof DuplicateError) {
      process.stderr.write(`keyward: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
