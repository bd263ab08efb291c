import type { connect } from '../postgres/client.js';

export interface SourceTablespace {
  oid: number;
  name: string;
  location: string;
}

interface SourceFacts {
  systemIdentifier: string;
  walSegmentSize: number;
  serverVersionNum: number;
  inRecovery: boolean;
  /** Every database, tablespaces included (pg_database_size counts all of them). */
  databaseBytes: number;
  /** User tablespaces (not pg_default, pg_global), by OID. */
  tablespaces: SourceTablespace[];
}

/** What `backup` needs to know of the server it copies, in one query. */
export async function readSourceFacts(client: Awaited<ReturnType<typeof connect>>): Promise<SourceFacts> {
  const { rows } = await client.query<{
    sysid: string;
    seg: string;
    ver: string;
    rec: boolean;
    size: string;
    tbs: Array<{ oid: number; name: string; location: string }> | null;
  }>(
    `SELECT (SELECT system_identifier::text FROM pg_control_system()) AS sysid,
            (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS seg,
            current_setting('server_version_num') AS ver,
            pg_is_in_recovery() AS rec,
            (SELECT sum(pg_database_size(oid))::text FROM pg_database) AS size,
            (SELECT json_agg(json_build_object('oid', oid, 'name', spcname,
                                               'location', pg_tablespace_location(oid)) ORDER BY oid)
               FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global')) AS tbs`,
  );
  const row = rows[0];
  if (!row) throw new Error('no row from the source facts query');
  // wal_segment_size is reported in bytes since PostgreSQL 11 (unit "B" in pg_settings).
  return {
    systemIdentifier: row.sysid,
    walSegmentSize: Number(row.seg),
    serverVersionNum: Number(row.ver),
    inRecovery: row.rec,
    databaseBytes: Number(row.size),
    tablespaces: (row.tbs ?? []).map((t) => ({ oid: Number(t.oid), name: t.name, location: t.location })),
  };
}
