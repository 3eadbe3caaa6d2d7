/** Byte counts for people: 1536 → "1.5 KiB", as nodetool -H prints them. */

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function humanBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  // Two decimals at most, without trailing zeros: "5 MiB", "5.5 MiB", "5.25 MiB".
  return `${value.toFixed(2).replace(/\.?0+$/, '')} ${UNITS[unit]}`;
}
