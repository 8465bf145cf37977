import { json } from "@llmq/testkit";
import type { TestStack } from "@llmq/stack";

export interface TokenGrant {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  refresh_expires_in: number;
  user: { id: string; name: string; email: string; is_admin: boolean };
}

let accounts = 0;

/** Creates an account with the admin key; returns its email, password and id. */
export async function createAccount(stack: TestStack, options: { name?: string; isAdmin?: boolean } = {}) {
  accounts += 1;
  const email = `user${accounts}.${Date.now()}@example.test`;
  const password = `correct horse battery ${accounts}`;
  const res = await stack.request("/v1/admin/users", { method: "POST", json: { email, name: options.name ?? `user ${accounts}`, password, is_admin: options.isAdmin ?? false } });
  if (res.status !== 201) throw new Error(`creating an account answered ${res.status}: ${await res.text()}`);
  const user = (await json(res)).data.data as { id: string };
  return { id: user.id, email, password };
}

/** `POST /v1/auth/login`; returns the raw response. */
export function postLogin(stack: TestStack, body: unknown): Promise<Response> {
  return fetch(`${stack.url}/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

/** Signs in and returns the token grant; fails unless 200. */
export async function login(stack: TestStack, email: string, password: string): Promise<TokenGrant> {
  const res = await postLogin(stack, { email, password });
  if (res.status !== 200) throw new Error(`login answered ${res.status}: ${await res.text()}`);
  return (await json(res)) as TokenGrant;
}

/** POSTs `{refresh_token}` to `/v1/auth/refresh` or `/v1/auth/logout`. */
export function postRefreshToken(stack: TestStack, route: "refresh" | "logout", refreshToken: string): Promise<Response> {
  return fetch(`${stack.url}/v1/auth/${route}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ refresh_token: refreshToken }) });
}

/** An account already signed in: its id and an access token to use as the bearer. */
export async function signedInAccount(stack: TestStack, options: { name?: string; isAdmin?: boolean } = {}) {
  const account = await createAccount(stack, options);
  const grant = await login(stack, account.email, account.password);
  return { ...account, token: grant.access_token, grant };
}
