/**
 * Revocations a cluster shares (CertificateRegistry: PostgreSQL's revocations table), so a
 * certificate revoked anywhere (`agentlb ca revoke --store`) is refused by every server at
 * once: the serials are read whole at open and after each store `resync` (notifications may
 * have been missed while LISTEN was down), and added as `revoked` changes are announced. Each
 * step hands the serials newly refused to `revoked`, which drops the agents connected with them.
 */
import { StoreUnavailableError, type CertificateRegistry, type Store, type StoreChange } from '../store/types';
import type { RevocationList } from './revocations';

export class StoreRevocations {
  private unsubscribe: () => void = () => undefined;
  /** While a whole read is in flight: the serials announced meanwhile (kept whatever it returns). */
  private during: string[] | undefined;

  private constructor(
    private readonly store: Store & CertificateRegistry,
    private readonly list: RevocationList,
    private readonly revoked: (serials: string[]) => void,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Subscribes, then reads every revoked serial (a failure here fails the start). */
  static async open(
    store: Store & CertificateRegistry,
    list: RevocationList,
    revoked: (serials: string[]) => void,
    onError: (error: unknown) => void,
  ): Promise<StoreRevocations> {
    const shared = new StoreRevocations(store, list, revoked, onError);
    shared.unsubscribe = store.subscribe((change: StoreChange) => {
      if (change.kind === 'revoked') {
        shared.during?.push(...change.serials);
        shared.revoked(shared.list.addFromStore(change.serials));
      } else if (change.kind === 'resync') {
        void shared.refresh().catch((error: unknown) => {
          if (!(error instanceof StoreUnavailableError)) shared.onError(error);
        });
      }
    });
    await shared.refresh();
    return shared;
  }

  close(): void {
    this.unsubscribe();
  }

  private async refresh(): Promise<void> {
    const during: string[] = [];
    this.during = during;
    try {
      const serials = await this.store.listRevoked();
      this.revoked(this.list.replaceStore([...serials, ...during]));
    } finally {
      if (this.during === during) this.during = undefined;
    }
  }
}
