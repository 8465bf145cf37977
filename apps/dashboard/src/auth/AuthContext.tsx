import { type ReactNode, createContext, useContext, useEffect, useMemo, useState } from "react";
import { ApiClient, requestTokens, revokeTokens } from "../api/client";
import type { SignedInUser as User } from "@llmq/contract";
import { type Session, loadSession, sessionFromTokens } from "./session";
import { TokenKeeper } from "./token-keeper";

interface Auth {
  session: Session | null;
  /** The signed-in user; null for an API key whose profile could not be read. */
  user: User | null;
  client: ApiClient;
  signInWithPassword(email: string, password: string): Promise<void>;
  signInWithKey(apiKey: string): Promise<void>;
  signOut(): void;
}

const AuthContext = createContext<Auth | null>(null);

/** Holds the session for the whole app: sign-in, token refresh, sign-out. */
export function AuthProvider({ children }: { children: ReactNode }) {
  const keeper = useMemo(() => {
    const k = new TokenKeeper({ storage: window.sessionStorage, refresh: (refresh_token) => requestTokens("/v1/auth/refresh", { refresh_token }) });
    k.set(loadSession(window.sessionStorage));
    return k;
  }, []);
  const [session, setSession] = useState<Session | null>(() => keeper.current());
  useEffect(() => {
    const unsubscribe = keeper.subscribe(setSession);
    return () => {
      unsubscribe();
      keeper.stop();
    };
  }, [keeper]);

  // One client for the whole session: it asks the keeper for a fresh token on every request.
  const client = useMemo(() => new ApiClient(() => keeper.token(), () => keeper.set(null)), [keeper]);
  const auth = useMemo<Auth>(() => {
    return {
      session,
      user: session?.user ?? null,
      client,
      async signInWithPassword(email, password) {
        const tokens = await requestTokens("/v1/auth/login", { email, password });
        keeper.set(sessionFromTokens(tokens, Date.now()));
      },
      async signInWithKey(apiKey) {
        // The key is checked by reading the profile with it; a wrong key gets the API's 401 message.
        const probe = new ApiClient(async () => apiKey);
        const me = await probe.me();
        keeper.set({ kind: "key", apiKey, user: { id: me.id, name: me.name, email: me.email, is_admin: me.is_admin } });
      },
      signOut() {
        const current = keeper.current();
        if (current?.kind === "password") void revokeTokens(current.refreshToken);
        keeper.set(null);
      },
    };
  }, [keeper, client, session]);

  return <AuthContext.Provider value={auth}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error("useAuth outside AuthProvider");
  return auth;
}
