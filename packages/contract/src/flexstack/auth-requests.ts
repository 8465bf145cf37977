import { z } from "zod";

export const passwordSchema = z.string().min(8).max(1024);

export const loginSchema = z.strictObject({
  email: z.string().trim().min(1).max(320),
  // Not the creation policy: an account's password is checked, not judged, at sign-in.
  password: z.string().min(1).max(1024),
});

export const refreshSchema = z.strictObject({
  refresh_token: z.string().min(1).max(200),
});
