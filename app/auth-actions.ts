"use server";
// The dashboard's sign-in, setup and sign-out form actions (implemented in server/http).
import {
  githubLoginAction,
  loginAction,
  oidcLoginAction,
  logoutAction,
  setupAction,
  signOutEverywhereAction,
  type FormState,
} from "@/server/api/dashboard/dashboard-session";

export async function login(prev: FormState, form: FormData): Promise<FormState> {
  return loginAction(prev, form);
}

export async function setup(prev: FormState, form: FormData): Promise<FormState> {
  return setupAction(prev, form);
}

export async function logout(): Promise<void> {
  return logoutAction();
}

export async function logoutEverywhere(): Promise<void> {
  return signOutEverywhereAction();
}

export async function loginWithGitHub(form: FormData): Promise<void> {
  return githubLoginAction(form);
}

export async function loginWithOidc(form: FormData): Promise<void> {
  return oidcLoginAction(form);
}
