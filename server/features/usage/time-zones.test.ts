// Local days as UTC instants, and the plan that sums them from daily and hourly roll-ups.
import { describe, expect, it } from "vitest";
import { alignedWithUtc, canonicalTimeZone, localDayPlan, localDays, offsetMinutes, planLocalDays, todayIn } from "./time-zones.ts";

const H = 3_600_000;

describe("time zones", () => {
  it("finds offsets and local midnights, across daylight-saving changes", () => {
    expect(offsetMinutes("Europe/Berlin", Date.UTC(2026, 0, 1))).toBe(60);
    expect(offsetMinutes("Europe/Berlin", Date.UTC(2026, 6, 1))).toBe(120);
    expect(offsetMinutes("America/New_York", Date.UTC(2026, 0, 1))).toBe(-300);
    expect(offsetMinutes("Asia/Kolkata", Date.UTC(2026, 0, 1))).toBe(330);
    // Berlin leaves summer time on 2026-10-25: that day has 25 hours.
    const [oct25] = localDays("Europe/Berlin", "2026-10-25", "2026-10-25");
    expect(oct25!.from.toISOString()).toBe("2026-10-24T22:00:00.000Z");
    expect(oct25!.to.toISOString()).toBe("2026-10-25T23:00:00.000Z");
    const [ny] = localDays("America/New_York", "2026-11-10", "2026-11-10");
    expect([ny!.from.toISOString(), ny!.to.toISOString()]).toEqual(["2026-11-10T05:00:00.000Z", "2026-11-11T05:00:00.000Z"]);
    expect(todayIn("Pacific/Auckland", Date.UTC(2026, 10, 25, 12))).toBe("2026-11-26");
  });

  it("validates names and refuses zones whose offset is not whole hours", () => {
    expect(canonicalTimeZone("europe/berlin")).toBe("Europe/Berlin");
    expect(() => canonicalTimeZone("Mars/Base")).toThrow(/unknown time zone/);
    expect(() => canonicalTimeZone("'; drop table")).toThrow(/not an IANA time zone name/);
    expect(() => localDays("Asia/Kolkata", "2026-01-01", "2026-01-02")).toThrow(/UTC\+05:30/);
    expect(alignedWithUtc(localDays("UTC", "2026-01-01", "2026-01-31"))).toBe(true);
    expect(alignedWithUtc(localDays("Europe/London", "2026-01-01", "2026-01-31"))).toBe(true);
    expect(alignedWithUtc(localDays("Europe/London", "2026-06-01", "2026-06-02"))).toBe(false);
  });

  it("plans each local day as whole UTC days plus and minus edge hours that add up to exactly its hours", () => {
    for (const tz of ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Pacific/Auckland", "Pacific/Kiritimati", "Pacific/Pago_Pago"]) {
      const days = localDays(tz, "2026-03-20", "2026-04-10").concat(localDays(tz, "2026-10-20", "2026-11-05"));
      const plan = planLocalDays(days);
      for (const d of days) {
        // Weight of every UTC hour in this local day: +1 per whole UTC day, ±1 per listed hour.
        const weight = new Map<number, number>();
        for (const u of plan.days.filter((x) => x.localDay === d.day)) {
          const start = Date.parse(`${u.utcDay}T00:00:00Z`);
          for (let h = start; h < start + 24 * H; h += H) weight.set(h, (weight.get(h) ?? 0) + 1);
        }
        for (const h of plan.hours.filter((x) => x.localDay === d.day))
          weight.set(h.hour.getTime(), (weight.get(h.hour.getTime()) ?? 0) + h.sign);
        const inside = [...weight].filter(([, w]) => w !== 0);
        expect(
          inside.every(([, w]) => w === 1),
          `${tz} ${d.day}`,
        ).toBe(true);
        expect(inside.map(([h]) => h).sort((a, b) => a - b)).toEqual(
          Array.from({ length: (d.to.getTime() - d.from.getTime()) / H }, (_, i) => d.from.getTime() + i * H),
        );
      }
      // Never more than 12 hourly rows per local day and side.
      expect(plan.hours.length).toBeLessThanOrEqual(days.length * 24);
    }
    expect(planLocalDays(localDays("Europe/Berlin", "2026-01-05", "2026-01-05")).hours.map((h) => [h.hour.toISOString(), h.sign])).toEqual([
      ["2026-01-04T23:00:00.000Z", 1],
      ["2026-01-05T23:00:00.000Z", -1],
    ]);
  });

  it("remembers the plan of a range: null for UTC days, planLocalDays's plan elsewhere, the same object when asked again", () => {
    expect(localDayPlan("UTC", "2026-01-01", "2026-03-31")).toBeNull();
    expect(localDayPlan("Europe/London", "2026-01-01", "2026-01-31")).toBeNull();
    const ny = localDayPlan("America/New_York", "2026-08-29", "2026-11-26");
    expect(ny).toEqual(planLocalDays(localDays("America/New_York", "2026-08-29", "2026-11-26")));
    expect(localDayPlan("America/New_York", "2026-08-29", "2026-11-26")).toBe(ny);
    expect(localDayPlan("America/New_York", "2026-08-30", "2026-11-26")).not.toBe(ny);
    // A zone off the hour is refused each time (errors are not remembered).
    expect(() => localDayPlan("Asia/Kolkata", "2026-01-01", "2026-01-02")).toThrow(/whole number of hours/);
    expect(() => localDayPlan("Asia/Kolkata", "2026-01-01", "2026-01-02")).toThrow(/whole number of hours/);
  });

  it("gives the canonical name of a zone however often it is asked, and refuses an unknown one each time", () => {
    for (let i = 0; i < 3; i++) {
      expect(canonicalTimeZone("america/new_york")).toBe("America/New_York");
      expect(() => canonicalTimeZone("Mars/Base")).toThrow(/unknown time zone/);
    }
  });
});
