// Money and amounts as both the UI and the server show them.

/** A decimal string without trailing zeros after the point: "12.500000" -> "12.5", "25.000000" -> "25". */
export function trimDecimal(text: string): string {
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}
