"use client";
// The vectors page: the caller's collections (size, distance, point count) with create and delete,
// a form that adds documents by text, and a search box that embeds a query with a chosen model
// (the built-in local-hash-384 by default, which needs no key) and lists the nearest points with
// score and payload. Talks to the `vectors.*` tRPC procedures; the first list comes from the
// server render.
import { useState, type FormEvent } from "react";
import { dateTime } from "@/lib/dates";
import { fitsSize } from "@/lib/embedding-sizes";
import { counted } from "@/lib/format";
import { DISTANCES, documentsOf, pointId, type Distance } from "@/lib/vectors";
import { CodeBlock } from "../shared/code-block";
import { EmptyState, Step } from "../shared/empty-state";
import { Origin } from "../shared/origin";
import { trpc } from "../shared/trpc-provider";
import type { RouterOutputs } from "../wire";
import styles from "./vectors.module.css";

type Collection = RouterOutputs["vectors"]["list"][number];
type SearchResult = RouterOutputs["vectors"]["searchText"];
/** The embedding models of the catalogue (`models.list` of type embedding). */
type EmbeddingModel = RouterOutputs["models"]["list"][number];
const DEFAULT_MODEL = "local-hash-384";

/** A tRPC error's message, or "Sign in" for one that needs a session. */
function errorText(error: { message: string; data?: { code?: string } | null } | null): string | null {
  if (!error) return null;
  return error.data?.code === "UNAUTHORIZED" ? "Sign in to use vector collections." : error.message;
}

export function SignInToSeeVectors() {
  return (
    <EmptyState title="Sign in to see your vector collections">
      <p>Collections belong to the user who created them; sign in to list, create and search yours.</p>
      <p>
        <a className="button" href="/login?callbackUrl=%2Fvectors">
          Sign in
        </a>
      </p>
    </EmptyState>
  );
}

export function VectorsUnavailable({ reason }: { reason: string }) {
  return (
    <EmptyState title="Vector collections are unavailable">
      <p role="alert">{reason}</p>
    </EmptyState>
  );
}

function CreateCollectionForm() {
  const utils = trpc.useUtils();
  const create = trpc.vectors.create.useMutation({ onSuccess: () => utils.vectors.list.invalidate() });

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    create.mutate({
      name: String(form.get("name") ?? "").trim(),
      vectorSize: Number(form.get("size")),
      distance: String(form.get("distance")) as Distance,
    });
  }

  return (
    <form className="panel" onSubmit={submit} aria-label="Create a collection">
      <h2>Create a collection</h2>
      <div className="form-row">
        <label className="field">
          <span className="field-label">Name</span>
          <input name="name" required maxLength={64} pattern="[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}" placeholder="docs" />
        </label>
        <label className="field">
          <span className="field-label">Vector size</span>
          <input name="size" type="number" required min={1} max={16000} defaultValue={384} />
        </label>
        <label className="field">
          <span className="field-label">Distance</span>
          <select name="distance" defaultValue="Cosine">
            {DISTANCES.map((d) => (
              <option key={d} value={d}>
                {d}
              </option>
            ))}
          </select>
        </label>
      </div>
      <p className="muted">384 fits the built-in local model; OpenAI&apos;s text-embedding-3 models can be shortened to any size.</p>
      {create.error ? (
        <p className="form-error" role="alert">
          {errorText(create.error)}
        </p>
      ) : null}
      <button type="submit" className="button" disabled={create.isPending}>
        {create.isPending ? "Creating…" : "Create collection"}
      </button>
    </form>
  );
}

function DeleteButton({ name, owner }: { name: string; owner: string }) {
  const utils = trpc.useUtils();
  const [confirming, setConfirming] = useState(false);
  const remove = trpc.vectors.delete.useMutation({
    onSuccess: async () => {
      setConfirming(false);
      await utils.vectors.list.invalidate();
    },
  });
  if (!confirming) {
    return (
      <button type="button" className="link-button danger" onClick={() => setConfirming(true)}>
        Delete
      </button>
    );
  }
  return (
    <span className="row-actions">
      <button type="button" className="link-button danger" disabled={remove.isPending} onClick={() => remove.mutate({ name, owner })}>
        Confirm delete
      </button>
      <button type="button" className="link-button" onClick={() => setConfirming(false)}>
        Cancel
      </button>
      {remove.error ? <span className="form-error">{errorText(remove.error)}</span> : null}
    </span>
  );
}

function CollectionsTable({ collections }: { collections: Collection[] }) {
  // Names are unique per owner: an admin who sees several owners' collections sees whose each is.
  const owners = new Set(collections.map((c) => c.owner)).size > 1;
  return (
    <div className="table-wrap">
      <table className="table" aria-label="Collections">
        <thead>
          <tr>
            <th>Name</th>
            {owners ? <th>Owner</th> : null}
            <th className={styles.numeric}>Size</th>
            <th>Distance</th>
            <th className={styles.numeric}>Points</th>
            <th>Backend</th>
            <th>Created</th>
            <th aria-label="Actions" />
          </tr>
        </thead>
        <tbody>
          {collections.map((c) => (
            <tr key={collectionKey(c)} data-collection={c.name}>
              <td>
                <code>{c.name}</code>
              </td>
              {owners ? (
                <td>
                  <code>{c.owner}</code>
                </td>
              ) : null}
              <td className={styles.numeric}>{c.vectorSize}</td>
              <td>{c.distance}</td>
              <td className={styles.numeric} data-testid="points-count">
                {c.pointsCount === null ? <span className="muted">storage missing</span> : c.pointsCount.toLocaleString()}
              </td>
              <td>{c.backend}</td>
              <td>{dateTime(c.createdAt)}</td>
              <td>
                <DeleteButton name={c.name} owner={c.owner} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The embedding models that can make vectors of `size` (lib/embedding-sizes.ts): the others are not offered. */
function fitting(models: EmbeddingModel[], size: number | undefined): EmbeddingModel[] {
  if (size === undefined) return models;
  return models.filter((m) => fitsSize({ dimensions: m.embeddingDimensions, resize: m.embeddingResize }, size));
}

function ModelSelect({ models, name, size }: { models: EmbeddingModel[]; name: string; size: number | undefined }) {
  const offered = fitting(models, size);
  const initial = offered.some((m) => m.id === DEFAULT_MODEL) ? DEFAULT_MODEL : (offered.find((m) => m.available) ?? offered[0])?.id;
  return (
    <label className="field">
      <span className="field-label">Embedding model</span>
      {/* A new collection size may leave the previous choice out: the key resets the default. */}
      <select key={`${size}`} name={name} defaultValue={initial} data-testid={`${name}-select`}>
        {offered.map((m) => (
          <option key={m.id} value={m.id} disabled={!m.available} title={m.unavailableReason ?? undefined}>
            {m.id}
            {m.embeddingDimensions ? ` (${m.embeddingDimensions}-d${m.embeddingDimensions !== size ? `, made ${size}-d` : ""})` : ""}
            {m.available ? "" : " — unavailable"}
          </option>
        ))}
      </select>
      {size !== undefined && offered.length === 0 ? (
        <span className="form-error" role="alert">
          No embedding model of the catalogue makes {size}-dimension vectors.
        </span>
      ) : null}
    </label>
  );
}

function CollectionSelect({
  collections,
  name,
  value,
  onChange,
}: {
  collections: Collection[];
  name: string;
  value: string;
  onChange: (name: string) => void;
}) {
  const owners = new Set(collections.map((c) => c.owner)).size > 1;
  const valueOf = optionValue(collections);
  return (
    <label className="field">
      <span className="field-label">Collection</span>
      <select name={name} required value={value} onChange={(e) => onChange(e.target.value)}>
        {collections.map((c) => (
          <option key={collectionKey(c)} value={valueOf(c)}>
            {c.name} ({c.vectorSize}-d){owners ? ` · ${c.owner}` : ""}
          </option>
        ))}
      </select>
    </label>
  );
}

/** A collection's key in lists: names are unique per owner, not across owners. */
function collectionKey(c: Pick<Collection, "owner" | "name">): string {
  return `${c.owner} ${c.name}`;
}

/** A collection's value in a select: its name, or owner and name where another owner's has that name too (an admin's list). */
function optionValue(collections: Collection[]): (c: Collection) => string {
  const names = new Map<string, number>();
  for (const c of collections) names.set(c.name, (names.get(c.name) ?? 0) + 1);
  return (c) => ((names.get(c.name) ?? 0) > 1 ? collectionKey(c) : c.name);
}

/** The chosen collection (the first until one is chosen): its key, size, and how to address it. */
function useChosenCollection(collections: Collection[]) {
  const [chosen, setChosen] = useState("");
  const valueOf = optionValue(collections);
  const current = collections.find((c) => valueOf(c) === chosen) ?? collections[0];
  return {
    value: current ? valueOf(current) : "",
    size: current?.vectorSize,
    onChange: setChosen,
    target: current ? { name: current.name, owner: current.owner } : { name: "" },
  };
}

/** Deletes points of a collection by id (vectors.deletePoints). */
function DeletePointsForm({ collections }: { collections: Collection[] }) {
  const utils = trpc.useUtils();
  const chosen = useChosenCollection(collections);
  const remove = trpc.vectors.deletePoints.useMutation({ onSuccess: () => utils.vectors.list.invalidate() });
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const ids = String(form.get("ids") ?? "")
      .split(",")
      .map((i) => i.trim())
      .filter(Boolean)
      .map(pointId);
    remove.mutate({ ...chosen.target, ids });
  }
  return (
    <form className="panel" onSubmit={submit} aria-label="Delete points">
      <h2>Delete points</h2>
      <div className="form-row">
        <CollectionSelect collections={collections} name="collection" value={chosen.value} onChange={chosen.onChange} />
        <label className="field">
          <span className="field-label">IDs (comma-separated)</span>
          <input name="ids" required maxLength={10_000} placeholder="doc_1, 42" />
        </label>
      </div>
      {remove.error ? (
        <p className="form-error" role="alert">
          {errorText(remove.error)}
        </p>
      ) : null}
      {remove.data ? (
        <p className="muted" role="status">
          Deleted {counted(remove.data.deleted, "point")}.
        </p>
      ) : null}
      <button type="submit" className="button button-secondary" disabled={remove.isPending}>
        {remove.isPending ? "Deleting…" : "Delete points"}
      </button>
    </form>
  );
}

function AddDocumentForm({ collections, models }: { collections: Collection[]; models: EmbeddingModel[] }) {
  const utils = trpc.useUtils();
  const [added, setAdded] = useState<string | null>(null);
  const chosen = useChosenCollection(collections);
  const upsert = trpc.vectors.upsertDocuments.useMutation({
    onSuccess: async (res, input) => {
      const ids = input.documents.map((d) => d.id);
      setAdded(
        `Stored ${ids.length === 1 ? ids[0] : `${ids.length} documents (${ids.join(", ")})`} (${res.usage.inputTokens} tokens with ${res.model}).`,
      );
      await utils.vectors.list.invalidate();
    },
  });

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setAdded(null);
    const form = new FormData(e.currentTarget);
    upsert.mutate({
      ...chosen.target,
      model: String(form.get("model")),
      documents: documentsOf(String(form.get("id") ?? ""), String(form.get("text") ?? ""), form.get("perLine") === "on"),
    });
  }

  return (
    <form className="panel" onSubmit={submit} aria-label="Add a document">
      <h2>Add a document</h2>
      <div className="form-row">
        <CollectionSelect collections={collections} name="collection" value={chosen.value} onChange={chosen.onChange} />
        <label className="field">
          <span className="field-label">ID</span>
          <input name="id" required maxLength={256} placeholder="doc_1" />
        </label>
        <ModelSelect models={models} name="model" size={chosen.size} />
      </div>
      <label className={`field ${styles.textField}`}>
        <span className="field-label">Text</span>
        <textarea name="text" required rows={3} maxLength={100_000} placeholder="The text to embed; it is kept in the payload as `text`." />
      </label>
      <label className="check">
        <input type="checkbox" name="perLine" />
        One document per line (ids numbered from the ID: 42, 43, … or doc-1, doc-2, …)
      </label>
      {upsert.error ? (
        <p className="form-error" role="alert">
          {errorText(upsert.error)}
        </p>
      ) : null}
      {added ? (
        <p className="muted" role="status">
          {added}
        </p>
      ) : null}
      <button type="submit" className="button" disabled={upsert.isPending}>
        {upsert.isPending ? "Embedding…" : "Add document"}
      </button>
    </form>
  );
}

function SearchPanel({ collections, models }: { collections: Collection[]; models: EmbeddingModel[] }) {
  const chosen = useChosenCollection(collections);
  const search = trpc.vectors.searchText.useMutation();
  const [shown, setShown] = useState<SearchResult | null>(null);

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    search.mutate(
      {
        ...chosen.target,
        text: String(form.get("query") ?? ""),
        model: String(form.get("model")),
        limit: Number(form.get("limit")),
      },
      { onSuccess: setShown },
    );
  }

  return (
    <section className="panel" aria-label="Search">
      <h2>Search</h2>
      <form onSubmit={submit} role="search" aria-label="Search a collection">
        <div className="form-row">
          <CollectionSelect collections={collections} name="collection" value={chosen.value} onChange={chosen.onChange} />
          <ModelSelect models={models} name="model" size={chosen.size} />
          <label className="field">
            <span className="field-label">Results</span>
            <input name="limit" type="number" min={1} max={100} defaultValue={5} />
          </label>
        </div>
        <div className={styles.queryRow}>
          <label className="field">
            <span className="field-label">Query</span>
            <input name="query" required maxLength={100_000} placeholder="What are you looking for?" />
          </label>
          <button type="submit" className="button" disabled={search.isPending}>
            {search.isPending ? "Searching…" : "Search"}
          </button>
        </div>
      </form>
      {search.error ? (
        <p className="form-error" role="alert">
          {errorText(search.error)}
        </p>
      ) : null}
      {shown ? <Results result={shown} /> : null}
    </section>
  );
}

function Results({ result }: { result: SearchResult }) {
  if (result.results.length === 0) return <p className="muted">No points matched.</p>;
  return (
    <ol className={styles.results} aria-label="Results">
      {result.results.map((p) => (
        <li key={`${typeof p.id}:${p.id}`} data-testid="search-result" data-point-id={String(p.id)}>
          <div className={styles.resultHead}>
            <code>{typeof p.id === "string" ? `"${p.id}"` : p.id}</code>
            <span className={styles.score} title="Cosine and Dot: higher is nearer; Euclid: a distance, lower is nearer">
              score {p.score.toFixed(4)}
            </span>
          </div>
          <pre className={styles.payload}>{JSON.stringify(p.payload, null, 2)}</pre>
        </li>
      ))}
    </ol>
  );
}

function NoCollectionsYet() {
  return (
    <EmptyState title="No collections yet">
      <p>
        Create one above, or over the REST API. Vectors are kept with pgvector in the service&apos;s own database, or in Qdrant when{" "}
        <code>QDRANT_URL</code> is set.
      </p>
      <ol className="steps">
        <Step n={1} title="Create a collection">
          <CodeBlock>
            curl -X POST <Origin />
            {`/v1/vector/collections \\
  -H "Authorization: Bearer $MODEL_SERVICE_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{"collection_name": "docs", "vector_size": 384, "distance": "Cosine"}'`}
          </CodeBlock>
        </Step>
        <Step n={2} title="Add points and search">
          <p className="step-text">
            <code>POST /v1/vector/points</code> stores vectors with a payload, <code>POST /v1/vector/documents</code> embeds texts;{" "}
            <code>POST /v1/vector/search</code> finds the nearest ones to a vector or a text.
          </p>
        </Step>
      </ol>
    </EmptyState>
  );
}

export function VectorsManager({
  initialCollections,
  embeddingModels,
}: {
  initialCollections: Collection[];
  embeddingModels: EmbeddingModel[];
}) {
  const list = trpc.vectors.list.useQuery(undefined, { initialData: initialCollections });
  const collections = list.data ?? initialCollections;
  if (list.error?.data?.code === "UNAUTHORIZED") return <SignInToSeeVectors />;
  return (
    <>
      <CreateCollectionForm />
      {list.error ? (
        <p className="form-error" role="alert">
          {list.error.message}
        </p>
      ) : null}
      {collections.length === 0 ? (
        <NoCollectionsYet />
      ) : (
        <>
          <CollectionsTable collections={collections} />
          <div className={styles.columns}>
            <AddDocumentForm collections={collections} models={embeddingModels} />
            <SearchPanel collections={collections} models={embeddingModels} />
            <DeletePointsForm collections={collections} />
          </div>
        </>
      )}
    </>
  );
}
