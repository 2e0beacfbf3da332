"use client";
// The address this dashboard is served from, for copy-paste commands. The server render (and the
// first client render, so hydration matches) shows the default address.
import { useSyncExternalStore } from "react";

export const DEFAULT_ORIGIN = "http://localhost:8003";

const subscribe = () => () => {};

export function Origin() {
  return useSyncExternalStore(
    subscribe,
    () => window.location.origin,
    () => DEFAULT_ORIGIN,
  );
}
