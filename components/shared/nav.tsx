"use client";
// The dashboard's navigation; the link for the current page is marked with aria-current. Admins
// also see the admin-only pages (ADMIN_NAV_ITEMS).
import Link from "next/link";
import { usePathname } from "next/navigation";
import type { ReactNode } from "react";

type NavItem = { href: string; label: string; icon: ReactNode };

const ICON_PROPS = {
  width: 18,
  height: 18,
  viewBox: "0 0 24 24",
  fill: "none",
  stroke: "currentColor",
  strokeWidth: 1.8,
  strokeLinecap: "round",
  strokeLinejoin: "round",
  "aria-hidden": true,
} as const;

export const NAV_ITEMS: NavItem[] = [
  {
    href: "/",
    label: "Usage",
    icon: (
      <svg {...ICON_PROPS}>
        <path d="M4 20V10M10 20V4M16 20v-7M22 20H2" />
      </svg>
    ),
  },
  {
    href: "/requests",
    label: "Requests",
    icon: (
      <svg {...ICON_PROPS}>
        <path d="M8 6h13M8 12h13M8 18h13M3 6h.01M3 12h.01M3 18h.01" />
      </svg>
    ),
  },
  {
    href: "/playground",
    label: "Playground",
    icon: (
      <svg {...ICON_PROPS}>
        <path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z" />
      </svg>
    ),
  },
  {
    href: "/models",
    label: "Models",
    icon: (
      <svg {...ICON_PROPS}>
        <path d="M12 2 3 7l9 5 9-5-9-5zM3 17l9 5 9-5M3 12l9 5 9-5" />
      </svg>
    ),
  },
  {
    href: "/keys",
    label: "Keys",
    icon: (
      <svg {...ICON_PROPS}>
        <circle cx="7.5" cy="15.5" r="4.5" />
        <path d="m10.7 12.3 9.8-9.8M17 6l3 3M14.5 8.5l2 2" />
      </svg>
    ),
  },
  {
    href: "/teams",
    label: "Teams",
    icon: (
      <svg {...ICON_PROPS}>
        <circle cx="9" cy="8" r="3" />
        <circle cx="17" cy="9" r="2.5" />
        <path d="M3 20c0-3.3 2.7-6 6-6s6 2.7 6 6M15 14.5c.6-.2 1.3-.3 2-.3 2.5 0 4 1.8 4 4.8" />
      </svg>
    ),
  },
  {
    href: "/vectors",
    label: "Vectors",
    icon: (
      <svg {...ICON_PROPS}>
        <circle cx="5" cy="6" r="2" />
        <circle cx="18" cy="5" r="2" />
        <circle cx="12" cy="13" r="2" />
        <circle cx="6" cy="19" r="2" />
        <circle cx="19" cy="18" r="2" />
        <path d="m6.6 7.3 3.8 4.3M16.4 6.3l-3.1 5M10.6 14.4l-3.3 3.3M13.7 14l3.6 2.9" />
      </svg>
    ),
  },
  {
    href: "/api-reference",
    label: "API reference",
    icon: (
      <svg {...ICON_PROPS}>
        <path d="M8 4H6a2 2 0 0 0-2 2v4l-2 2 2 2v4a2 2 0 0 0 2 2h2M16 4h2a2 2 0 0 1 2 2v4l2 2-2 2v4a2 2 0 0 1-2 2h-2" />
      </svg>
    ),
  },
];

/** Pages only an admin can use (the server refuses anyone else; the link is hidden from them). */
export const ADMIN_NAV_ITEMS: NavItem[] = [
  {
    href: "/providers",
    label: "Providers",
    icon: (
      <svg {...ICON_PROPS}>
        <rect x="3" y="4" width="18" height="6" rx="1.5" />
        <rect x="3" y="14" width="18" height="6" rx="1.5" />
        <path d="M7 7h.01M7 17h.01" />
      </svg>
    ),
  },
  {
    href: "/users",
    label: "Users",
    icon: (
      <svg {...ICON_PROPS}>
        <circle cx="9" cy="8" r="3.5" />
        <path d="M2.5 20a6.5 6.5 0 0 1 13 0M16 4.5a3.5 3.5 0 0 1 0 7M18 14a6 6 0 0 1 3.5 6" />
      </svg>
    ),
  },
  {
    href: "/audit",
    label: "Audit",
    icon: (
      <svg {...ICON_PROPS}>
        <path d="M9 4h6M9 2h6v4H9zM6 4H5a1 1 0 0 0-1 1v15a1 1 0 0 0 1 1h14a1 1 0 0 0 1-1V5a1 1 0 0 0-1-1h-1M8 12l2 2 4-4M8 18h8" />
      </svg>
    ),
  },
];

function isActive(pathname: string, href: string): boolean {
  return href === "/" ? pathname === "/" : pathname === href || pathname.startsWith(`${href}/`);
}

export function Nav({ isAdmin = false }: { isAdmin?: boolean }) {
  const pathname = usePathname() ?? "/";
  const items = isAdmin ? [...NAV_ITEMS.slice(0, 4), ...ADMIN_NAV_ITEMS, ...NAV_ITEMS.slice(4)] : NAV_ITEMS;
  return (
    <nav className="nav" aria-label="Main">
      <ul>
        {items.map((item) => {
          const active = isActive(pathname, item.href);
          return (
            <li key={item.href}>
              <Link href={item.href} className="nav-link" aria-current={active ? "page" : undefined}>
                {item.icon}
                <span>{item.label}</span>
              </Link>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}
